"""Quality gates: Great Expectations suites kept as data in expectations/<layer>.<table>.yml.

Each expectation carries a severity: `fail` stops publication, `warn` is reported only.
Arguments may name parameters of the run, filled in by the gate: ${run_date}, ${range_start},
${range_end}, ${events_from}, ${events_to}, and thresholds such as ${max_quarantine_share} or
${volume_floor} (pipeline.gate_params). An argument that is exactly one parameter takes its value
and type (a number stays a number).

Each gate builds Great Expectations Data Docs (HTML) of what it validated.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from clicklake.config import is_s3

SEVERITIES = ("fail", "warn")


RECONCILIATION = "quality.reconciliation"


@dataclass(frozen=True)
class CheckResult:
    table: str
    expectation: str
    arguments: str
    severity: str
    success: bool
    observed: str
    staged_version: int | None = None

    def line(self) -> str:
        mark = "ok  " if self.success else ("FAIL" if self.severity == "fail" else "warn")
        return f"  [{mark}] {self.table}: {self.expectation}({self.arguments}) observed {self.observed}"


class GateFailed(RuntimeError):
    def __init__(self, layer: str, failures: list[CheckResult], staging: str = "", docs: str = ""):
        self.failures = failures
        lines = "\n".join(f.line() for f in failures)
        where = f"\n  the rejected batches stay staged under {staging}" if staging else ""
        where += f"\n  Data Docs: {docs}" if docs else ""
        super().__init__(f"quality gate of {layer} failed; nothing of {layer} was published:\n{lines}{where}")


class NotValidated(RuntimeError):
    """Publishing was asked for a staged batch without a passed gate of that very version."""


def suite_spec(table: str) -> list[dict]:
    """The expectations of a table's suite, validated for shape (not yet for GX arguments)."""
    entry = resources.files("clicklake.expectations").joinpath(f"{table}.yml")
    if not entry.is_file():
        raise FileNotFoundError(f"no expectation suite for {table}: add expectations/{table}.yml")
    spec = yaml.safe_load(entry.read_text())
    if spec.get("table") != table:
        raise ValueError(f"expectations/{table}.yml names table {spec.get('table')!r}")
    expectations = spec.get("expectations") or []
    for item in expectations:
        if item.get("severity") not in SEVERITIES:
            raise ValueError(f"expectations/{table}.yml: {item.get('type')} needs severity fail or warn")
    return expectations


def _substitute(value, params: dict):
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}") and value[2:-1] in params:
            return params[value[2:-1]]
        # Only the known names: regexes in the suites use `$` themselves.
        for name, replacement in params.items():
            value = value.replace("${" + name + "}", str(replacement))
        return value
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


_preloading: threading.Thread | None = None


def preload() -> None:
    """Import Great Expectations in the background (it takes 10-20 s) while Spark works."""
    global _preloading
    if _preloading is None and "great_expectations" not in sys.modules:
        _preloading = threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True)
        _preloading.start()


# Up to this many rows a batch is validated in pandas after one collect: GX runs each metric as a
# separate Spark job, which costs seconds per expectation on small batches. Larger batches stay in Spark.
PANDAS_MAX_ROWS = int(os.environ.get("CLICKLAKE_GX_PANDAS_MAX_ROWS", "300000"))


def _gx():
    if _preloading is not None:
        _preloading.join()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return gx


def _docs_site(folder: str) -> dict:
    backend = {"class_name": "TupleFilesystemStoreBackend", "base_directory": folder}
    # GX's own sections and pages, in views that compile its templates once per process (docs_views).
    views = {"module_name": "clicklake.docs_views", "class_name": "PageView"}
    return {"class_name": "SiteBuilder", "store_backend": backend,
            "site_section_builders": {section: {"view": views} for section in ("expectations", "validations", "profiling")},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": {**views, "class_name": "IndexPageView"}}}


class Gate:
    """One gate run: a fresh ephemeral GX context whose Data Docs show exactly this gate's validations."""

    SITE = "clicklake"

    def __init__(self, docs_uri: str | None = None):
        gx = self.gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.docs_uri = docs_uri
        # GX 1.x writes Data Docs to local folders only: for an s3:// lake they are built in a
        # temporary folder and uploaded.
        self._local = tempfile.mkdtemp(prefix="clicklake-docs-") if docs_uri and is_s3(docs_uri) else docs_uri
        if docs_uri:
            self.context.add_data_docs_site(site_name=self.SITE, site_config=_docs_site(self._local))
        # persist=False: GX would otherwise cache the frame and never release it.
        self.sources = {
            "spark": self.context.data_sources.add_spark(name="spark", persist=False),
            "pandas": self.context.data_sources.add_pandas(name="pandas"),
        }

    def validate(self, df, table: str, params: dict, rows: int | None = None, staged_version: int | None = None) -> list[CheckResult]:
        """Run the table's suite on a Spark DataFrame of `rows` rows (counted when not given)."""
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        rows = df.count() if rows is None else rows
        engine = "pandas" if rows <= PANDAS_MAX_ROWS else "spark"
        suite = self.gx.ExpectationSuite(name=table)
        for item in suite_spec(table):
            kwargs = _substitute(item.get("kwargs", {}), params)
            if "row_condition" in kwargs:
                # Suites keep conditions both engines read the same way (`lines >= 100`).
                kwargs["condition_parser"] = engine
            config = ExpectationConfiguration(type=item["type"], kwargs=kwargs, meta={"severity": item["severity"]})
            suite.add_expectation(config.to_domain_obj())
        suite = self.context.suites.add_or_update(suite)
        frame = _as_pandas(df) if engine == "pandas" else df
        asset = self.sources[engine].add_dataframe_asset(name=table)
        definition = self.context.validation_definitions.add_or_update(
            self.gx.ValidationDefinition(name=table, data=asset.add_batch_definition_whole_dataframe(name=table), suite=suite)
        )
        outcome = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
        results = []
        for r in outcome.results:
            config = r.expectation_config
            args = ", ".join(f"{k}={_shown(v)}" for k, v in config.kwargs.items() if k not in ("batch_id", "condition_parser"))
            error = _exception_message(r.exception_info) if not r.success else None
            if error:
                observed = f"error: {error}"
            elif table == RECONCILIATION and not r.success and engine == "pandas":
                observed = _reconciliation_misses(frame)
            else:
                observed = _observed(r.result or {})
            results.append(CheckResult(table, config.type, args, config.meta.get("severity", "fail"), bool(r.success),
                                       observed, staged_version))
        return results

    def build_docs(self) -> str | None:
        """Render the Data Docs of this gate; returns where the index page is."""
        if not self.docs_uri:
            return None
        self.context.build_data_docs(site_names=[self.SITE])
        if self._local != self.docs_uri:
            from clicklake.config import S3Settings
            from clicklake.storage import open_location

            target = open_location(self.docs_uri, S3Settings.from_env())
            for path in sorted(Path(self._local).rglob("*")):
                if path.is_file():
                    target.put(str(path.relative_to(self._local)), path.read_bytes())
            shutil.rmtree(self._local, ignore_errors=True)
        return f"{self.docs_uri}/index.html"


def _shown(value) -> str:
    """An argument as the suite wrote it (GX wraps row conditions in a dict)."""
    if isinstance(value, dict) and "pass_through_filter" in value:
        return str(value["pass_through_filter"])
    return str(value)


def _reconciliation_misses(frame) -> str:
    misses = frame[frame["expected"] != frame["observed"]]
    text = "; ".join(f"{r.check} [{r.scope}]: expected {r.expected}, observed {r.observed}" for r in misses.head(5).itertuples())
    return f"{len(misses)} of {len(frame)} checks differ: {text}"


def _as_pandas(df):
    """The batch as pandas (maps as text: no expectation looks inside them)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    maps = [f.name for f in df.schema.fields if isinstance(f.dataType, T.MapType)]
    if maps:  # (one call into the JVM for all columns: a column each was 3k calls of a small run)
        df = df.withColumns({name: F.col(name).cast("string") for name in maps})
    return df.toPandas()


def _exception_message(info) -> str | None:
    """GX reports an expectation that could not run either flat or keyed by metric."""
    if not info:
        return None
    if info.get("raised_exception") or info.get("exception_message"):
        return info.get("exception_message") or "raised an exception"
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return value["exception_message"].strip().splitlines()[-1]
    return None


def _observed(result: dict) -> str:
    if "observed_value" in result:
        return json.dumps(result["observed_value"], default=str)
    if "unexpected_count" in result:
        sample = result.get("partial_unexpected_list") or []
        text = f"{result['unexpected_count']} unexpected of {result.get('element_count')}"
        if sample:
            text += " e.g. " + json.dumps(sample[:5], default=str)
        return text
    return json.dumps(result, default=str)[:200]
