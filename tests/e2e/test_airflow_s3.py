"""End to end on the embedded stack: a real S3 server over HTTP, the generator writing landing
files into it, Airflow running the nightly DAG (`airflow dags test`), Spark reading and writing
Delta tables through S3A, and `clicklake sql` reading the result by table name."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from embedded_s3 import D, infra, s3_settings

from clicklake import airflow_local, storage
from clicklake.generator import generate
from clicklake.tables import all_tables

pytestmark = pytest.mark.e2e



def test_the_embedded_server_is_real_s3_and_keeps_data_across_restarts(s3_env):
    location = storage.open_location("s3://clicklake/probe", s3_settings(s3_env))
    location.put("a/b.txt", b"kept")
    infra("s3-local", "restart", s3_env)
    assert location.get("a/b.txt") == b"kept"
    assert location.list("a") == ["a/b.txt"]


def test_nightly_dag_run_matches_the_truth(s3_env, airflow_env, nightly):
    summary, text = nightly["summary"], nightly["log"]
    assert nightly["code"] == 0, text[-5000:]
    for layer in ("bronze", "silver", "gold"):
        assert f"{layer}: gate passed" in text, f"{layer} did not pass its gate"
    state, tasks = airflow_local.run_states(D, airflow_env)
    assert state == "success" and set(tasks.values()) == {"success"}, (state, tasks)

    # Sessions that do not cross midnight are complete after D's run alone; the count is exact.
    truth = [json.loads(line) for line in storage.open_location(s3_env["CLICKLAKE_RAW"], s3_settings(s3_env))
             .get(f"_truth/dt={D}/sessions.ndjson").decode().splitlines() if line]
    # Over S3 by table name with the JVM-free engine: a cold Spark `clicklake sql` costs ~40 s here,
    # the Spark engine answers by table name in tests/integration/test_sql_engines.py, and every
    # DAG task above read and wrote these tables through S3A.
    query = (f"SELECT count(*) AS sessions, count(DISTINCT visitor_id) AS visitors FROM gold.sessions "
             f"WHERE session_date = DATE'{D}'")
    out = subprocess.run([str(Path(sys.executable).with_name("clicklake")), "sql", "--engine", "duckdb", "--format", "json", query],
                         env=s3_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"sessions": summary["sessions"], "visitors": summary["visitors"]}
    assert len(truth) == summary["sessions"]


def published_commits(s3_env) -> dict[str, list[str]]:
    """The Delta log files of every published table, read with boto3: a table whose log gained no
    file is byte-for-byte the table it was."""
    lake_root = storage.open_location(s3_env["CLICKLAKE_LAKE"], s3_settings(s3_env))
    return {name: lake_root.list(f"{spec.layer}/{spec.short_name}/_delta_log")
            for name, spec in all_tables().items() if not name.startswith("quality.")}


def test_a_bad_day_fails_its_gate_task_and_publishes_nothing(s3_env, airflow_env, nightly, tmp_path):
    """D+1 is delivered with one access-log file twice under two names: the bronze gate fails,
    names the expectation in the task log, and the publish task never runs."""
    bad_day = D + dt.timedelta(days=1)
    raw = storage.open_location(s3_env["CLICKLAKE_RAW"], s3_settings(s3_env))
    generate(bad_day, s3_env["CLICKLAKE_RAW"], visitors=20, seed=12, s3=s3_settings(s3_env))
    first = next(k for k in raw.list(f"weblogs/dt={bad_day}") if k.endswith(".gz"))
    raw.put(first.replace(".log.gz", "-redelivered.log.gz"), raw.get(first))
    before = published_commits(s3_env)
    assert all(before.values()), "the good day's run published every table"

    env = airflow_env
    log = tmp_path / "dags-test.log"
    airflow_local.dags_test(bad_day, env, log)
    text = log.read_text()
    state, tasks = airflow_local.run_states(bad_day, env)
    assert state == "failed", text[-3000:]
    assert tasks["wait_for_landing_files"] == "success" and tasks["bronze_gate"] == "failed", tasks
    assert tasks["publish"] in ("upstream_failed", None), "publish must not run after a failed gate"
    assert all(tasks[t] in ("upstream_failed", None) for t in ("silver_gate", "gold_gate")), tasks
    assert "[FAIL] bronze.landing_files: expect_column_values_to_be_unique(column=fingerprint)" in text
    assert published_commits(s3_env) == before, "a published table got a new Delta commit"
