"""The analyst's no-JVM path: DuckDB over the lake's tables (read with delta-rs) sees exactly the
rows Spark sees, table by table, and `clicklake sql` answers by table name with either engine."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from clicklake import cli, duck, lake
from clicklake.tables import all_tables


def comparable(rows) -> list[tuple]:
    """Rows as plain tuples in one order; DuckDB hands timestamps back with their UTC zone, Spark without."""
    def plain(value):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value
    return sorted((tuple(plain(v) for v in row) for row in rows), key=repr)


def test_duckdb_reads_every_table_as_spark_does(spark, in_order):
    con = duck.connect(in_order.lake)
    compared = []
    for name in sorted(all_tables()):
        published = lake.read_published(spark, name, in_order.lake)
        if published is None:
            continue
        in_duckdb = con.sql(f"SELECT {', '.join(published.columns)} FROM {name}").fetchall()
        assert comparable(in_duckdb) == comparable(published.collect()), name
        compared.append(name)
    assert {"gold.sessions", "gold.daily_kpis", "silver.hits"} <= set(compared)


@pytest.mark.parametrize("engine", ["spark", "duckdb"])
def test_the_sql_command_answers_by_table_name(spark, in_order, capsys, engine):
    query = "SELECT session_date, count(*) AS sessions FROM gold.sessions GROUP BY session_date ORDER BY session_date"
    code = cli.main(["sql", "--engine", engine, "--format", "json", "--lake", in_order.lake, query])
    assert code == 0
    answered = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = lake.read_published(spark, "gold.sessions", in_order.lake).groupBy("session_date").count().orderBy("session_date").collect()
    assert answered and answered == [{"session_date": str(r["session_date"]), "sessions": r["count"]} for r in expected]
