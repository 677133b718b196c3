"""What the end-to-end tests share: one real S3 server over HTTP for the session, on its own port
and data folder (apart from a demo server a developer may have running), and Airflow
standalone's backfill of the nightly DAG over D and a bad day after it into
s3://clicklake/lake, which several tests read."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass

import pytest
from embedded_s3 import BACKFILL_DAYS, BAD_DAY, REPO, infra, s3_settings

from clicklake import airflow_local, storage
from clicklake.generator import generate

PORT_OFFSET = 100  # S3 on 8433: apart from a demo server on 8333


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory):
    data = tmp_path_factory.mktemp("s3")
    # Not a developer's Spark Connect server: the backfill sets its own, the cluster test none.
    env = {
        **{k: v for k, v in os.environ.items() if k != "CLICKLAKE_SPARK_REMOTE"},
        "CLICKLAKE_S3_DATA": str(data),
        "CLICKLAKE_S3_PORT_OFFSET": str(PORT_OFFSET),
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{8333 + PORT_OFFSET}",
        "AWS_ACCESS_KEY_ID": "e2e-key",
        "AWS_SECRET_ACCESS_KEY": "e2e-secret-local-only",
        "AWS_REGION": "us-east-1",
        "CLICKLAKE_RAW": "s3://clicklake/raw",
        "CLICKLAKE_LAKE": "s3://clicklake/lake",
        "CLICKLAKE_VISITOR_HASH_KEY": "e2e-visitor-key",
        "CLICKLAKE_DAG_RETRIES": "0",
        # Every staged batch of one date counts as large: the backfill's publish task copies the
        # staged files on the S3 server and commits them (delta-rs).
        "CLICKLAKE_PUBLISH_FILES_FROM_ROWS": "0",
    }
    infra("s3-local", "start", env)
    yield env
    infra("s3-local", "stop", env)


CONNECT_PORT = 15102  # apart from a developer's Connect server on 15002
AIRFLOW_PORT = 8180  # apart from `make airflow` on 8080


@dataclass
class Backfill:
    """What the backfill left: its REST record as created, the runs by day, each run's task states, the log
    of Airflow standalone and of every task, the generator's summaries, and the pids of Airflow's
    processes still alive after it was stopped."""

    backfill: dict
    runs: dict[dt.date, dict]
    tasks: dict[dt.date, dict[str, str]]
    standalone_log: str
    task_logs: dict[tuple[dt.date, str], str]
    summaries: dict[dt.date, dict]
    left_running: list[int]


@pytest.fixture(scope="session")
def backfill(s3_env, tmp_path_factory) -> Backfill:
    """The generator's day D and a bad day after it in s3://clicklake/raw, run by
    Airflow standalone as one backfill created through the REST API (what the UI's "Run
    Backfill" posts), its tasks attached to a Spark Connect server (infra/spark-connect), into
    s3://clicklake/lake. Both are stopped once the backfill has ended."""
    s3 = s3_settings(s3_env)
    raw = storage.open_location(s3_env["CLICKLAKE_RAW"], s3)
    # D (BACKFILL_DAYS) is the day the cluster test runs too.
    summaries = {day: generate(day, s3_env["CLICKLAKE_RAW"], visitors=150, seed=11, s3=s3) for day in BACKFILL_DAYS}
    generate(BAD_DAY, s3_env["CLICKLAKE_RAW"], visitors=20, seed=12, s3=s3)
    first = next(k for k in raw.list(f"weblogs/dt={BAD_DAY}") if k.endswith(".gz"))
    raw.put(first.replace(".log.gz", "-redelivered.log.gz"), raw.get(first))

    connect_env = {**s3_env, "CLICKLAKE_SPARK_CONNECT_DIR": str(tmp_path_factory.mktemp("spark-connect")),
                   "CLICKLAKE_SPARK_CONNECT_PORT": str(CONNECT_PORT)}
    # The Connect server and Airflow start side by side (each waits mostly on its own start-up).
    connect = subprocess.Popen([str(REPO / "infra" / "spark-connect"), "start"], env=connect_env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    home = tmp_path_factory.mktemp("airflow")
    env = airflow_local.airflow_env(home, REPO / "dags", base={**s3_env, "CLICKLAKE_SPARK_REMOTE": f"sc://127.0.0.1:{CONNECT_PORT}"},
                                    port=AIRFLOW_PORT)
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    days = BACKFILL_DAYS + (BAD_DAY,)
    try:
        airflow_local.migrate(env)
        airflow = airflow_local.Standalone(env, home / "standalone.log")
        try:
            started = connect.communicate()[0]
            assert connect.returncode == 0, started
            airflow.login()
            airflow_local.wait_until(lambda: airflow.api(f"/api/v2/dags/{airflow_local.DAG_ID}"), 180, "the DAG being parsed",
                                     alive=airflow.process)
            created = airflow.api("/api/v2/backfills", body={
                "dag_id": airflow_local.DAG_ID, "from_date": f"{days[0]}T00:00:00Z", "to_date": f"{days[-1]}T00:00:00Z",
                # Neighbouring dates rewrite each other's sessions across midnight: one at a time.
                "max_active_runs": 1, "reprocess_behavior": "none", "run_backwards": False,
            })
            # What the dialog's "Unpause on trigger" does: a paused DAG's runs never start.
            # Unpaused, catchup also starts a scheduled run for the DAG's start date, which waits
            # for landing files that never come here; backfill runs are counted apart from it.
            airflow.api(f"/api/v2/dags/{airflow_local.DAG_ID}", body={"is_paused": False}, method="PATCH")
            # (The backfill's own completed_at follows within 30 s: the scheduler looks that often.)
            finished = airflow_local.wait_until(lambda: airflow_local.finished_backfill_runs(airflow, len(days)), 1500,
                                                "the backfill's runs ending", every_s=2, alive=airflow.process)
        finally:
            left = airflow.stop()
    finally:
        connect.wait()
        stopped = infra("spark-connect", "stop", connect_env)
    assert "stopped 1 process(es)" in stopped, stopped
    runs = {dt.date.fromisoformat(r["logical_date"][:10]): r for r in finished}
    logs = {}
    for path in (home / "logs").rglob("*.log"):
        day = next((d for d in runs if f"run_id={runs[d]['dag_run_id']}" in str(path)), None)
        task = next((part.removeprefix("task_id=") for part in path.parts if part.startswith("task_id=")), None)
        if day and task:
            logs[(day, task)] = logs.get((day, task), "") + path.read_text()
    return Backfill(created, runs, {day: airflow_local.run_states(day, env)[1] for day in runs},
                    (home / "standalone.log").read_text(), logs, summaries, left)
