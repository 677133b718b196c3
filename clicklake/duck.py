"""The lake's tables by name in DuckDB, without a JVM: the analyst's quick path.

delta-rs (the `deltalake` package) reads each table's Delta log and hands DuckDB the files of the
current version as an Arrow dataset, so DuckDB sees what Spark sees: `SELECT ... FROM gold.sessions`.
Read-only: writing stays with the Spark jobs, which own the tables' commits.
"""

from __future__ import annotations

from clicklake.config import S3Settings, is_s3
from clicklake.tables import all_tables


def storage_options(s3: S3Settings) -> dict[str, str]:
    """delta-rs's settings for an S3 lake; with no endpoint, AWS's own defaults apply."""
    options = {"AWS_REGION": s3.region}
    if s3.endpoint:
        options.update({"AWS_ENDPOINT_URL": s3.endpoint, "AWS_ALLOW_HTTP": str(s3.endpoint.startswith("http://")).lower(),
                        "AWS_FORCE_PATH_STYLE": "true"})
    if s3.access_key and s3.secret_key:
        options.update({"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
    return options


def connect(lake_root: str, s3: S3Settings | None = None):
    """A DuckDB connection with every existing table of the lake as a view `layer.table`."""
    import duckdb
    from deltalake import DeltaTable

    options = storage_options(s3 or S3Settings.from_env()) if is_s3(lake_root) else None
    con = duckdb.connect()
    for name, spec in sorted(all_tables().items()):
        path = spec.path(lake_root)
        if not DeltaTable.is_deltatable(path, storage_options=options):
            continue
        dataset = DeltaTable(path, storage_options=options).to_pyarrow_dataset()
        con.register(f"_{spec.layer}_{spec.short_name}", dataset)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.layer}")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM _{spec.layer}_{spec.short_name}")
    return con
