"""End to end on the embedded stack: a real S3 server over HTTP, the generator writing landing
files into it, Airflow standalone running a backfill of the nightly DAG created through its REST
API (conftest.backfill), each task attached to a Spark Connect server that reads and writes Delta
tables through S3A, and the tables read back by name without a JVM."""

from __future__ import annotations

import datetime as dt

import pytest
from deltalake import DeltaTable
from embedded_s3 import BACKFILL_DAYS, BAD_DAY, infra, s3_settings

from clicklake import duck, storage
from clicklake.tables import all_tables

pytestmark = pytest.mark.e2e

TASKS = ("wait_for_landing_files", "bronze_gate", "silver_gate", "gold_gate", "publish")


def test_the_embedded_server_is_real_s3_keeps_data_across_restarts_and_deletes_files_by_name(s3_env):
    location = storage.open_location("s3://clicklake/probe", s3_settings(s3_env))
    location.put("a/b.txt", b"kept")
    infra("s3-local", "restart", s3_env)
    assert location.get("a/b.txt") == b"kept"
    assert location.list("a") == ["a/b.txt"]
    location.put("a/c=1 2.txt", b"gone")  # a file a Delta log would name URL-encoded
    storage.delete_files("s3://clicklake/probe", ["a/c%3D1%202.txt", "a/never-written.txt"], s3_settings(s3_env))
    assert location.list("a") == ["a/b.txt"]


def test_a_backfill_created_through_the_rest_api_runs_each_day_under_the_scheduler(backfill):
    """One run per day, one after another, every task of a good day succeeded in its own process;
    and when Airflow stopped (Ctrl-C, then a second SIGTERM to a component still running, as an
    operator would: airflow_local.Standalone.stop), every process it had started ended."""
    assert backfill.backfill["from_date"][:10] == str(BACKFILL_DAYS[0]) and backfill.backfill["to_date"][:10] == str(BAD_DAY)
    states = [(day, run["state"]) for day, run in sorted(backfill.runs.items())]
    assert states == [(day, "success") for day in BACKFILL_DAYS] + [(BAD_DAY, "failed")], backfill.standalone_log[-5000:]
    for day in BACKFILL_DAYS:
        assert backfill.tasks[day] == dict.fromkeys(TASKS, "success"), (day, backfill.tasks[day])
        for layer in ("bronze", "silver", "gold"):
            assert f"{layer}: gate passed" in backfill.task_logs[(day, f"{layer}_gate")], f"{day} {layer}: no gate verdict in the task log"
    ordered = sorted(backfill.runs.values(), key=lambda run: run["logical_date"])
    for earlier, later in zip(ordered, ordered[1:]):
        ended, started = (dt.datetime.fromisoformat(t) for t in (earlier["end_date"], later["start_date"]))
        assert ended <= started, "the backfill ran two dates at once (max_active_runs=1)"
    assert backfill.left_running == [], f"processes of Airflow standalone still running after it stopped: {backfill.left_running}"


def test_gold_holds_each_backfilled_days_true_sessions(s3_env, backfill):
    """Sessions that do not cross midnight are complete after their day's run; the counts are
    exact. Read by table name with the JVM-free engine (every task above read and wrote these
    tables through S3A)."""
    s3 = s3_settings(s3_env)
    tables = duck.connect(s3_env["CLICKLAKE_LAKE"], s3)
    raw = storage.open_location(s3_env["CLICKLAKE_RAW"], s3)
    for day, summary in backfill.summaries.items():
        truth = [line for line in raw.get(f"_truth/dt={day}/sessions.ndjson").decode().splitlines() if line]
        assert len(truth) == summary["sessions"] > 0
        got = tables.execute(f"SELECT count(*), count(DISTINCT visitor_id) FROM gold.sessions WHERE session_date = DATE '{day}'").fetchone()
        assert got == (summary["sessions"], summary["visitors"]), day
        assert tables.execute(f"SELECT sessions FROM gold.daily_kpis WHERE date = DATE '{day}'").fetchall() == [(summary["sessions"],)], day
    assert tables.execute(f"SELECT count(*) FROM gold.sessions WHERE session_date = DATE '{BAD_DAY}'").fetchone() == (0,)


def test_a_bad_day_fails_its_gate_task_and_publishes_nothing(s3_env, backfill):
    """The bad day was delivered with one access-log file twice under two names: the bronze gate
    fails, names the expectation in the task log, and the publish task never runs."""
    tasks = backfill.tasks[BAD_DAY]
    assert tasks["wait_for_landing_files"] == "success" and tasks["bronze_gate"] == "failed", tasks
    assert all(tasks[t] in ("upstream_failed", None) for t in ("silver_gate", "gold_gate", "publish")), tasks
    assert "[FAIL] bronze.landing_files: expect_column_values_to_be_unique(column=fingerprint)" in backfill.task_logs[(BAD_DAY, "bronze_gate")]
    started = dt.datetime.fromisoformat(backfill.runs[BAD_DAY]["start_date"])
    options = duck.storage_options(s3_settings(s3_env))
    for name, spec in all_tables().items():
        if name.startswith("quality."):
            continue  # the gate records its verdict there
        last = DeltaTable(spec.path(s3_env["CLICKLAKE_LAKE"]), storage_options=options).history(1)[0]
        committed = dt.datetime.fromtimestamp(last["timestamp"] / 1000, dt.timezone.utc)
        assert committed < started, f"{name} got a commit during the bad day's run ({last.get('operation')})"


def test_the_publish_task_commits_the_staged_files_it_copied_on_the_server(s3_env, backfill):
    """The environment counts every staged batch as large (CLICKLAKE_PUBLISH_FILES_FROM_ROWS=0):
    Spark created each table of one date's rows empty (its schema, properties and comment), then
    the publish task copied the staged files on the S3 server and committed them with delta-rs.
    The counts above were read from those files."""
    options = duck.storage_options(s3_settings(s3_env))
    for name in ("bronze.tag_events", "silver.tag_events", "silver.weblog_hits"):
        history = DeltaTable(all_tables()[name].path(s3_env["CLICKLAKE_LAKE"]), storage_options=options).history()
        writers = [entry.get("clientVersion") or entry.get("engineInfo", "") for entry in reversed(history) if entry["operation"] == "WRITE"]
        assert len(writers) == 1 + len(BACKFILL_DAYS), (name, writers)
        assert "Apache-Spark" in writers[0] and all("delta-rs" in w for w in writers[1:]), (name, writers)
