"""The lake's tables: one name (`layer.table`) per table, defined once in schemas/<name>.json."""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


_SIMPLE_TYPES = {
    "string": T.StringType(), "date": T.DateType(), "timestamp": T.TimestampType(), "bigint": T.LongType(),
    "int": T.IntegerType(), "double": T.DoubleType(), "boolean": T.BooleanType(),
}


def spark_type(name: str) -> T.DataType:
    """The Spark type of a schemas/ type name (parsed here: no JVM needed)."""
    if name in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[name]
    if name.startswith("map<") and name.endswith(">"):
        key, value = name[4:-1].split(",", 1)
        return T.MapType(spark_type(key.strip()), spark_type(value.strip()))
    raise ValueError(f"unsupported column type {name!r} in schemas/")


@dataclass(frozen=True)
class Table:
    name: str
    partition_by: str
    description: str
    columns: tuple[dict, ...]

    @property
    def layer(self) -> str:
        return self.name.split(".")[0]

    @property
    def short_name(self) -> str:
        return self.name.split(".")[1]

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    @property
    def schema(self) -> T.StructType:
        return T.StructType(
            [
                T.StructField(c["name"], spark_type(c["type"]), c["nullable"], {"comment": c["comment"]})
                for c in self.columns
            ]
        )

    @property
    def stats_columns(self) -> list[str]:
        """Columns Delta keeps min/max statistics for: numbers, dates and times (Delta keeps none of a
        boolean). Not the strings: a date's rows are one or a few files, whose min/max of ids, paths
        or user agents prune nothing, and collecting them was a third of the write (a day's 706k
        tag events: 9.6 s with Delta's default of the first 32 columns, 6.8 s without)."""
        return [c["name"] for c in self.columns
                if c["name"] != self.partition_by and c["type"] in ("date", "timestamp", "bigint", "int", "double")]

    def path(self, lake: str) -> str:
        return f"{lake}/{self.layer}/{self.short_name}"


# Columns whose values nearly all differ within a file: ids, times, line numbers, raw lines. Parquet
# would build a dictionary of each, find it past its 1 MB page and fall back to plain encoding,
# so the attempt is skipped (spark.parquet_write_conf): a day's 705k silver tag events were written in
# 5.0 s instead of 7.7 s, in files 2.6% larger; in the 10M-record day, where staging also computes
# the rows, silver's three staged writes took 139 s instead of 151 s (2026-12-01). Columns that
# repeat a few values (sites, paths, browsers, dates) keep their dictionaries, which make them
# small and fast to read.
UNIQUE_VALUED_COLUMNS = (
    "line", "raw_event", "raw", "line_number", "hit_id", "event_id", "page_view_id", "session_id", "first_session_id",
    "visitor_id", "visitor_key", "anonymous_id", "ts", "event_ts", "device_created_ts", "device_sent_ts", "collector_ts",
    "session_start", "session_end",
)


@lru_cache(maxsize=None)
def all_tables() -> dict[str, Table]:
    tables = {}
    for entry in resources.files("clicklake.schemas").iterdir():
        if entry.name.endswith(".json") and entry.name.count(".") == 2:
            spec = json.loads(entry.read_text())
            tables[spec["name"]] = Table(spec["name"], spec["partition_by"], spec["description"], tuple(spec["columns"]))
    return tables


def table(name: str) -> Table:
    try:
        return all_tables()[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(sorted(all_tables()))}") from None


def layer_tables(layer: str) -> list[Table]:
    return [t for t in all_tables().values() if t.layer == layer]


class SchemaMismatch(ValueError):
    pass


def conform(df: DataFrame, name: str) -> DataFrame:
    """Select the table's columns in order, cast to its types and attach its column comments.

    A missing column is a programming error and raises; extra columns are dropped.
    """
    spec = table(name)
    missing = [c for c in spec.column_names if c not in df.columns]
    if missing:
        raise SchemaMismatch(f"{name}: transform output lacks columns {missing}")
    return df.select(_conforming_columns(df.sparkSession, name))


# The conforming projection of each table, built once per session: each column's cast and comment
# are several calls into the JVM (types and metadata travel as JSON), 23k of a small day's run's
# 74k, and building them took 2-3.6 s for all tables where reusing them takes 0.14 s. Unresolved
# columns hold no data and fit any frame of the session.
_conforming: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _conforming_columns(session, name: str) -> list:
    columns = _conforming.setdefault(session, {})
    if name not in columns:
        columns[name] = [F.col(f.name).cast(f.dataType).alias(f.name, metadata=f.metadata) for f in table(name).schema.fields]
    return columns[name]
