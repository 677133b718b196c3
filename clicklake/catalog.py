"""Table names for SQL: every published table of a lake as `layer.table` in the session catalog."""

from __future__ import annotations

from clicklake import lake
from clicklake.config import spark_uri
from clicklake.tables import all_tables


def register_tables(spark, lake_root: str) -> list[str]:
    """Register the lake's existing tables; returns their names."""
    registered = []
    for name, spec in sorted(all_tables().items()):
        path = spec.path(lake_root)
        if not lake.is_delta_table(spark, path):
            continue
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {spec.layer}")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{spark_uri(path)}'")
        registered.append(name)
    return registered
