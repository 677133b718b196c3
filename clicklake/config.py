"""Settings: every location, credential and policy knob comes from flags or the environment.

One function (`Settings.from_env`) decides the environment; storage follows from the URIs, so the
same job code runs on a laptop with the embedded S3 server and on a cluster against real S3.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to set it."""


def repo_root() -> Path | None:
    """The checkout this package runs from, if any (an installed wheel has none)."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else None


def _env_number(name: str, default, parse=int):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        kind = "a whole number" if parse is int else "a number"
        raise ConfigError(f"{name} must be {kind}, got {raw!r}") from exc


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds the quality gates fill into the suites (expectations/*.yml)."""

    max_quarantine_share: float = 0.2  # a landing file with more unusable lines fails silver
    min_volume_ratio: float = 0.5  # a day below this share of the trailing average fails bronze
    volume_history_days: int = 7
    volume_min_history_days: int = 3  # fewer published days than this: no volume floor yet

    @classmethod
    def from_env(cls) -> "GatePolicy":
        return cls(
            max_quarantine_share=_env_float("CLICKLAKE_MAX_QUARANTINE_SHARE", 0.2),
            min_volume_ratio=_env_float("CLICKLAKE_MIN_VOLUME_RATIO", 0.5),
            volume_history_days=_env_int("CLICKLAKE_VOLUME_HISTORY_DAYS", 7),
            volume_min_history_days=_env_int("CLICKLAKE_VOLUME_MIN_HISTORY_DAYS", 3),
        )


@dataclass(frozen=True)
class S3Settings:
    """How to reach S3. With no endpoint, AWS defaults (real S3, instance credentials) apply."""

    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"

    @classmethod
    def from_env(cls) -> "S3Settings":
        return cls(
            endpoint=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        )


# A table's batch of this many rows or more is large: it is written as Spark's split, one file per
# task, not one file per date (lake.ONE_FILE_PER_DATE_ROWS), and staged it is published as its
# files (Settings.publish_files_from_rows, its default; so is a smaller batch staged in large
# files, lake.PUBLISH_FILES_FROM_MEAN_BYTES).
LARGE_BATCH_ROWS = 2_000_000


@dataclass(frozen=True)
class Settings:
    raw: str
    lake: str
    visitor_hash_key: str
    default_site: str = "www.example.com"
    session_timeout_min: int = 30
    session_max_hours: int = 24
    late_days: int = 3
    tag_match_window_s: int = 10
    # Engaged time: the tracker's page_ping interval and the time credited for the page view itself
    # (Snowplow's activity-tracking heartbeat and minimum visit length).
    ping_heartbeat_s: int = 10
    min_visit_s: int = 5
    # (landing host-folder prefix, log format name) pairs that skip detection; see logformats.FORMATS
    log_formats: tuple[tuple[str, str], ...] = ()
    custom_log_pattern: str | None = None
    custom_log_time_format: str = "dd/MMM/yyyy:HH:mm:ss Z"
    # gold.funnels' funnels (clicklake.funnels.Funnel), from CLICKLAKE_FUNNELS or the packaged file
    funnels: tuple = field(default_factory=lambda: _funnels(None))
    top_paths: int = 100  # how many full session paths per site and date gold.top_paths keeps
    # A staged batch of one date with this many rows or more is published as its files (lake.publish)
    publish_files_from_rows: int = LARGE_BATCH_ROWS
    s3: S3Settings = field(default_factory=S3Settings)
    gates: GatePolicy = field(default_factory=GatePolicy)

    @classmethod
    def from_env(cls, raw: str | None = None, lake: str | None = None, need_raw: bool = True) -> "Settings":
        """Settings from flags (raw, lake) and the environment. Readers of the lake alone
        (`clicklake sql`) pass need_raw=False."""
        raw = raw or os.environ.get("CLICKLAKE_RAW") or (None if need_raw else "")
        lake = lake or os.environ.get("CLICKLAKE_LAKE")
        required = [("CLICKLAKE_LAKE (or --lake)", lake)] + ([("CLICKLAKE_RAW (or --raw)", raw)] if need_raw else [])
        missing = [name for name, value in required if not value]
        key = os.environ.get("CLICKLAKE_VISITOR_HASH_KEY", "")
        if not key and need_raw:
            missing.append("CLICKLAKE_VISITOR_HASH_KEY (secret key of the visitor hash; keep it stable)")
        if missing:
            raise ConfigError("missing settings: " + ", ".join(missing) + ". See README 'Configuration'.")
        settings = cls(
            raw=normalize_uri(raw) if raw else "",
            lake=normalize_uri(lake),
            visitor_hash_key=key,
            default_site=os.environ.get("CLICKLAKE_DEFAULT_SITE", "www.example.com"),
            session_timeout_min=_env_int("CLICKLAKE_SESSION_TIMEOUT_MIN", 30),
            session_max_hours=_env_int("CLICKLAKE_SESSION_MAX_HOURS", 24),
            late_days=_env_int("CLICKLAKE_LATE_DAYS", 3),
            tag_match_window_s=_env_int("CLICKLAKE_TAG_MATCH_WINDOW_S", 10),
            ping_heartbeat_s=_env_int("CLICKLAKE_PING_HEARTBEAT_S", 10),
            min_visit_s=_env_int("CLICKLAKE_MIN_VISIT_S", 5),
            log_formats=parse_log_formats(os.environ.get("CLICKLAKE_LOG_FORMATS", "")),
            custom_log_pattern=os.environ.get("CLICKLAKE_LOG_PATTERN") or None,
            custom_log_time_format=os.environ.get("CLICKLAKE_LOG_TIME_FORMAT") or "dd/MMM/yyyy:HH:mm:ss Z",
            funnels=_funnels(os.environ.get("CLICKLAKE_FUNNELS") or None),
            top_paths=_env_int("CLICKLAKE_TOP_PATHS", 100),
            publish_files_from_rows=_env_int("CLICKLAKE_PUBLISH_FILES_FROM_ROWS", LARGE_BATCH_ROWS),
            s3=S3Settings.from_env(),
            gates=GatePolicy.from_env(),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.session_timeout_min <= 0:
            raise ConfigError("CLICKLAKE_SESSION_TIMEOUT_MIN must be positive")
        if self.session_max_hours <= 0 or self.session_max_hours > 24:
            raise ConfigError("CLICKLAKE_SESSION_MAX_HOURS must be between 1 and 24: sessions may span one midnight only")
        if self.late_days < 0:
            raise ConfigError("CLICKLAKE_LATE_DAYS must be zero or more")
        if self.ping_heartbeat_s <= 0 or self.min_visit_s < 0:
            raise ConfigError("CLICKLAKE_PING_HEARTBEAT_S must be positive and CLICKLAKE_MIN_VISIT_S zero or more")
        if self.publish_files_from_rows < 0:
            raise ConfigError("CLICKLAKE_PUBLISH_FILES_FROM_ROWS must be zero or more")
        if self.top_paths < 1:
            raise ConfigError("CLICKLAKE_TOP_PATHS must be 1 or more")
        if self.log_formats or self.custom_log_pattern:
            self._validate_log_formats()
        if not 0 <= self.gates.max_quarantine_share <= 1:
            raise ConfigError("CLICKLAKE_MAX_QUARANTINE_SHARE must be between 0 and 1")
        if self.gates.min_volume_ratio < 0 or self.gates.volume_history_days < 1:
            raise ConfigError("CLICKLAKE_MIN_VOLUME_RATIO must be 0 or more and CLICKLAKE_VOLUME_HISTORY_DAYS 1 or more")

    def _validate_log_formats(self) -> None:
        from clicklake.jobs.logformats import FORMATS  # imports pyspark: only when formats are configured

        unknown = sorted({name for _, name in self.log_formats} - set(FORMATS))
        if unknown:
            raise ConfigError(f"CLICKLAKE_LOG_FORMATS names unknown formats {unknown}; known: {', '.join(FORMATS)}")
        if any(name == "custom" for _, name in self.log_formats) and not self.custom_log_pattern:
            raise ConfigError("CLICKLAKE_LOG_FORMATS uses 'custom': set CLICKLAKE_LOG_PATTERN (and CLICKLAKE_LOG_TIME_FORMAT)")
        if self.custom_log_pattern:
            try:
                self.custom_log_format().java_pattern_and_groups()
            except ValueError as exc:
                raise ConfigError(f"CLICKLAKE_LOG_PATTERN: {exc}") from exc

    def custom_log_format(self):
        from clicklake.jobs.logformats import CustomFormat

        if not self.custom_log_pattern:
            return None
        return CustomFormat(self.custom_log_pattern, self.custom_log_time_format)


def _funnels(path: str | None) -> tuple:
    from clicklake.funnels import load_funnels

    return load_funnels(path)


def parse_log_formats(text: str) -> tuple[tuple[str, str], ...]:
    """'web-eu=combined,cdn=cloudfront_web' -> (('web-eu', 'combined'), ('cdn', 'cloudfront_web'))."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        prefix, sep, name = item.partition("=")
        if not sep or not prefix.strip() or not name.strip():
            raise ConfigError(f"CLICKLAKE_LOG_FORMATS items are host-prefix=format, got {item!r}")
        pairs.append((prefix.strip(), name.strip()))
    return tuple(pairs)


def normalize_uri(uri: str) -> str:
    """Local paths become absolute; s3:// and s3a:// stay as given (without a trailing slash)."""
    uri = uri.rstrip("/")
    if "://" in uri:
        return uri
    return str(Path(uri).expanduser().resolve())


def spark_uri(uri: str) -> str:
    """Spark reaches S3 through S3A; users and boto3 speak s3://."""
    if uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://"):]
    return uri


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))
