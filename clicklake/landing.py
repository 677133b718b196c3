"""The landing zone (SPEC 1): which raw files belong to a delivery date."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from clicklake import storage
from clicklake.config import is_s3, spark_uri
from clicklake.spark import is_remote

WEBLOG_SUFFIXES = (".log", ".log.gz", ".log.bz2", ".gz", ".bz2", ".txt")
EVENT_SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".json.gz", ".jsonl", ".jsonl.gz")


class MissingLandingFiles(RuntimeError):
    pass


@dataclass(frozen=True)
class LandingFiles:
    weblogs: tuple[str, ...]
    events: tuple[str, ...]
    ignored: tuple[str, ...]
    total_bytes: int = 0


def weblog_prefix(raw: str, day: dt.date) -> str:
    return f"{raw}/weblogs/dt={day.isoformat()}"


def events_prefix(raw: str, day: dt.date) -> str:
    return f"{raw}/events/dt={day.isoformat()}"


def _glob(spark, pattern: str) -> list[tuple[str, int]]:
    """(path as Spark names it, size) of the files matching `<prefix>/*` or `<prefix>/*/*`."""
    if is_remote(spark):
        return _glob_without_jvm(pattern)
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(spark_uri(pattern))
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    statuses = fs.globStatus(path)
    if statuses is None:
        return []
    return sorted((s.getPath().toString(), s.getLen()) for s in statuses if s.isFile())


def list_landing_files(spark, raw: str, day: dt.date) -> LandingFiles:
    """Files delivered for `day`. Raises MissingLandingFiles when there are none at all."""
    weblogs, events, ignored = [], [], []
    total = 0
    for path, size in _glob(spark, weblog_prefix(raw, day) + "/*/*"):
        (weblogs if path.endswith(WEBLOG_SUFFIXES) else ignored).append(path)
        total += size
    for path, size in _glob(spark, events_prefix(raw, day) + "/*"):
        (events if path.endswith(EVENT_SUFFIXES) else ignored).append(path)
        total += size
    if not weblogs and not events:
        raise MissingLandingFiles(
            f"no landing files for {day}: expected {weblog_prefix(raw, day)}/<host>/<name>.log[.gz|.bz2] "
            f"and/or {events_prefix(raw, day)}/<name>.ndjson[.gz]"
        )
    return LandingFiles(tuple(weblogs), tuple(events), tuple(ignored), total)


def _glob_without_jvm(pattern: str) -> list[tuple[str, int]]:
    """What _glob finds, through clicklake.storage, for a Spark Connect client (no Hadoop file
    system in this process). Paths are spelled as Hadoop spells them (`s3a://bucket/key`,
    `file:/abs/path`): they are the lineage of every row and feed the log hits' ids."""
    prefix, stars = pattern, 0
    while prefix.endswith("/*"):
        prefix, stars = prefix[:-2], stars + 1
    if "*" in prefix or not stars:
        raise ValueError(f"unsupported landing pattern {pattern!r}")
    found = storage.open_location(prefix).sizes("")
    if is_s3(prefix):
        base = spark_uri(prefix.rstrip("/"))
    else:
        base = "file:" + os.path.abspath(prefix.removeprefix("file:"))
    return sorted((f"{base}/{key}", size) for key, size in found.items() if key.count("/") == stars - 1)
