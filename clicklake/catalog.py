"""Table names for SQL: every published table of a lake as `layer.table` in the session catalog."""

from __future__ import annotations

from clicklake import lake
from clicklake.config import spark_uri
from clicklake.tables import all_tables


def register_tables(spark, lake_root: str) -> list[str]:
    """Register the lake's existing tables; returns their names.

    A persistent catalog (the Hive metastore of `clicklake serve-sql`) keeps names between runs and
    may hold them for another lake: such a name is pointed at this lake. The catalog holds only the
    name and location; schema, comments and data come from each table's Delta log at query time,
    so a table the jobs changed needs no new registration.
    """
    registered = []
    for name, spec in sorted(all_tables().items()):
        path = spec.path(lake_root)
        if not lake.is_delta_table(spark, path):
            continue
        location = spark_uri(path)
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {spec.layer}")
        if spark.catalog.tableExists(name):
            kind, current = registration(spark, name)
            if _same_location(current, location):
                registered.append(name)
                continue
            if kind != "EXTERNAL":
                raise RuntimeError(f"{name} is registered as a {kind} table at {current}, not this lake's {location}; "
                                   "drop it yourself if it may go")
            spark.sql(f"DROP TABLE {name}")  # external: only the name goes, never files
        spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION '{location}'")
        registered.append(name)
    return registered


def registration(spark, name: str) -> tuple[str, str]:
    """(table type, location) as the catalog holds them."""
    rows = {r["col_name"]: r["data_type"] for r in spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()}
    return rows.get("Type", ""), rows.get("Location", "")


def _same_location(a: str, b: str) -> bool:
    def norm(uri: str) -> str:
        uri = uri.rstrip("/")
        return uri.removeprefix("file:").lstrip("/") if uri.startswith(("file:", "/")) else uri

    return norm(a) == norm(b)
