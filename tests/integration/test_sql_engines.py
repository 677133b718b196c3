"""SQL tools' paths into the lake: the Thrift JDBC server answers beeline as `clicklake sql` does
and refuses writes; DuckDB over the lake's tables (read with delta-rs, no JVM) sees exactly the rows
Spark sees, table by table; `clicklake sql` answers by table name with either engine."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import local_postgres
import pyspark
import pytest
from local_postgres import free_port

from clicklake import catalog, cli, duck, lake
from clicklake.config import spark_uri
from clicklake.tables import all_tables

BEELINE = Path(pyspark.__file__).resolve().parent / "bin" / "beeline"


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


def beeline(url: str, query: str) -> subprocess.CompletedProcess:
    """One statement through beeline, Hive's JDBC command-line client (from the pyspark wheel)."""
    return subprocess.run([str(BEELINE), "-u", url, "-n", "analyst", "--outputformat=csv2", "--silent=true", "-e", query],
                          capture_output=True, text=True, timeout=180)


def csv_rows(text: str) -> list[list[str]]:
    # beeline echoes its prompt ("0: jdbc:hive2://...> ") before the header when not on a terminal
    lines = (re.sub(r"^\d+: jdbc:hive2://\S+> ", "", line) for line in text.splitlines())
    return list(csv.reader(line for line in lines if line and not line.startswith("WARNING")))


def launch_sql_server(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`clicklake serve-sql ...` in the background (its JDBC URL: jdbc_url)."""
    with log.open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "clicklake", "serve-sql", *command], stdout=subprocess.PIPE,
                                stderr=err, text=True, env={**env, "PYTHONUNBUFFERED": "1"})


def jdbc_url(server: subprocess.Popen) -> str | None:
    """The URL a launched server prints once it listens; None if it ended first."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        if line.startswith("JDBC URL: "):
            return line.split()[2]
    return None


def stop_sql_server(server: subprocess.Popen) -> None:
    """SIGTERM, as Ctrl-C; killed if it has not stopped within two minutes (the test then fails on its exit code)."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=120)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@dataclass
class LaunchedServer:
    server: subprocess.Popen
    log: Path
    port: int
    metastore: Path | None = None
    postgres: local_postgres.LocalPostgres | None = None
    env: dict[str, str] | None = None


@contextlib.contextmanager
def launched(command: list[str], env: dict[str, str], folder: Path, **about):
    """A LaunchedServer of `clicklake serve-sql <command> --port <free port>`; stopped on leaving
    unless a test stopped it."""
    port = free_port()
    log = folder / "serve-sql.log"
    server = LaunchedServer(launch_sql_server([*command, "--port", str(port)], env, log), log, port, env=env, **about)
    try:
        yield server
    finally:
        if server.server.poll() is None:
            stop_sql_server(server.server)


# The module's two Thrift servers are launched as its first test begins: their start-up (~20 s
# each, mostly a new JVM's) overlaps each other and the tests before the ones that use them.

@pytest.fixture(scope="module", autouse=True)
def derby_metastore_server(in_order, tmp_path_factory):
    folder = tmp_path_factory.mktemp("derby-metastore")
    with launched(["--lake", in_order.lake, "--metastore", str(folder / "metastore")], dict(os.environ), folder,
                  metastore=folder / "metastore") as server:
        yield server


@pytest.fixture(scope="module", autouse=True)
def postgres_metastore_server(in_order, tmp_path_factory):
    """A Thrift server whose metastore is kept in PostgreSQL (local_postgres)."""
    with local_postgres.running() as postgres:
        env = {**os.environ, "CLICKLAKE_METASTORE": postgres.create_database("metastore"),
               "CLICKLAKE_METASTORE_USER": local_postgres.USER, "CLICKLAKE_METASTORE_PASSWORD": postgres.password}
        with launched(["--lake", in_order.lake], env, tmp_path_factory.mktemp("postgres-metastore"), postgres=postgres) as server:
            yield server


def test_the_thrift_server_answers_jdbc_clients_as_the_sql_command_does_and_refuses_writes(spark, in_order, derby_metastore_server, capsys):
    server, log, port = derby_metastore_server.server, derby_metastore_server.log, derby_metastore_server.port
    try:
        url = jdbc_url(server)
        assert url == f"jdbc:hive2://127.0.0.1:{port}/default", log.read_text()[-3000:]

        queries = [
            "SELECT session_date, count(*) AS sessions FROM gold.sessions GROUP BY session_date ORDER BY session_date",
            # decimals print alike in Java and Python; doubles need not
            "SELECT date, visitors, new_visitors, sessions, pageviews, CAST(bounce_rate AS DECIMAL(12, 6)) AS bounce_rate, "
            "CAST(avg_session_duration_s AS DECIMAL(16, 3)) AS avg_session_duration_s FROM gold.daily_kpis ORDER BY date",
        ]
        expected = []
        for query in queries:
            assert cli.main(["sql", "--format", "csv", "--lake", in_order.lake, query]) == 0
            rows = csv_rows(capsys.readouterr().out)
            assert len(rows) > 2, query
            expected += rows
        # One client for both (each beeline is a new JVM): their results follow each other, header first.
        answered = beeline(url, "; ".join(queries))
        assert answered.returncode == 0, answered.stderr[-3000:]
        assert csv_rows(answered.stdout) == expected

        refused = beeline(url, "DELETE FROM gold.daily_kpis WHERE true")
        assert refused.returncode != 0 and "read-only: DeleteCommand is not allowed" in refused.stdout + refused.stderr
        kept = beeline(url, "SELECT count(*) AS n FROM gold.daily_kpis")
        assert csv_rows(kept.stdout)[1] == [str(lake.read_published(spark, "gold.daily_kpis", in_order.lake).count())]
    finally:
        stop_sql_server(server)
    assert server.returncode == 0, log.read_text()[-3000:]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the server stopped listening"
    assert (derby_metastore_server.metastore / "metastore_db").is_dir(), "the catalog is a persistent Derby metastore"


def test_a_postgresql_metastore_serves_the_thrift_server_and_the_sql_command_at_once(spark, in_order, postgres_metastore_server, tmp_path):
    """The embedded Derby metastore lets one process at a time hold the names; one kept in
    PostgreSQL (a real server asking for a password, local_postgres) is shared: while the Thrift
    server holds it, `clicklake sql` over a lake folder without tables answers by the names the
    server registered, the names are rows of PostgreSQL's tables, and no process shows the
    password on its command line."""
    launch = postgres_metastore_server
    postgres, env, server, log = launch.postgres, launch.env, launch.server, launch.log
    try:
        url = jdbc_url(server)
        assert url is not None, log.read_text()[-3000:]
        command_lines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
        assert not any(postgres.password.encode() in line for line in command_lines), "the password is on a command line"
        query = "SELECT session_date, count(*) AS sessions FROM gold.sessions GROUP BY session_date ORDER BY session_date"
        # A lake without tables registers nothing: gold.sessions can only come from the shared catalog.
        command = subprocess.Popen([str(Path(sys.executable).with_name("clicklake")), "sql", "--format", "csv",
                                    "--lake", str(tmp_path / "lake-without-tables"), query], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        answered = beeline(url, query)  # while the command starts and reads the catalog
        out, err = command.communicate(timeout=300)
        assert answered.returncode == 0, answered.stderr[-3000:]
        assert command.returncode == 0, err[-3000:]
        assert len(csv_rows(out)) > 2 and csv_rows(answered.stdout) == csv_rows(out)
    finally:
        stop_sql_server(server)
    assert server.returncode == 0, log.read_text()[-3000:]
    registered = postgres.query("metastore", 'SELECT d."NAME" || \'.\' || t."TBL_NAME" FROM "TBLS" t '
                                             'JOIN "DBS" d ON d."DB_ID" = t."DB_ID" ORDER BY 1')
    published = sorted(name for name, spec in all_tables().items() if lake.is_delta_table(spark, spec.path(in_order.lake)))
    assert registered == published


def test_a_name_registered_for_another_lake_is_pointed_at_this_one(spark, in_order, tmp_path):
    other = str(tmp_path / "other-lake")
    spec = all_tables()["gold.daily_kpis"]
    lake.read_published(spark, "gold.daily_kpis", in_order.lake).limit(1).write.format("delta").save(spark_uri(spec.path(other)))
    try:
        assert catalog.register_tables(spark, other) == ["gold.daily_kpis"]
        assert spark.table("gold.daily_kpis").count() == 1
        catalog.register_tables(spark, in_order.lake)
        kind, location = catalog.registration(spark, "gold.daily_kpis")
        assert kind == "EXTERNAL" and location.rstrip("/").endswith(spec.path(in_order.lake).rstrip("/"))
        assert spark.table("gold.daily_kpis").count() == lake.read_published(spark, "gold.daily_kpis", in_order.lake).count()
        assert lake.read_published(spark, "gold.daily_kpis", other).count() == 1, "re-pointing a name leaves the files alone"
    finally:
        catalog.register_tables(spark, in_order.lake)
