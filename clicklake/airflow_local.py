"""Airflow on this machine: an AIRFLOW_HOME with SQLite metadata in an ignored folder, the
checkout's dags/, and the S3 connection and Variables taken from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DAG_ID = "clickstream_nightly"


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def airflow_env(home: Path, dags: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for `airflow` commands; S3 connection and Variables from the AWS_*/CLICKLAKE_* settings."""
    env = dict(base if base is not None else os.environ)
    connection = {
        "conn_type": "aws",
        "login": env.get("AWS_ACCESS_KEY_ID", ""),
        "password": env.get("AWS_SECRET_ACCESS_KEY", ""),
        "extra": {"region_name": env.get("AWS_REGION", "us-east-1")},
    }
    if env.get("AWS_ENDPOINT_URL_S3"):
        connection["extra"]["endpoint_url"] = env["AWS_ENDPOINT_URL_S3"]
    # `airflow standalone` starts its scheduler, API server and the rest as `airflow ...` from PATH:
    # this interpreter's bin folder (the venv's) comes first, activated or not.
    bin_dir = str(Path(airflow_bin()).parent)
    env["PATH"] = os.pathsep.join([bin_dir] + [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir])
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "airflow.task=INFO",
            "PYTHONWARNINGS": "ignore",
            "AIRFLOW_CONN_CLICKLAKE_S3": json.dumps(connection),
            "AIRFLOW_VAR_CLICKLAKE_RAW": env["CLICKLAKE_RAW"],
            "AIRFLOW_VAR_CLICKLAKE_LAKE": env["CLICKLAKE_LAKE"],
        }
    )
    return env


def migrate(env: dict[str, str]) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([airflow_bin(), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)


def dags_test(day, env: dict[str, str], log_path: Path, echo=None) -> int:
    """`airflow dags test clickstream_nightly D`; the full output goes to log_path.

    echo(line) sees every output line as it comes (for progress); returns the exit code.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [airflow_bin(), "dags", "test", DAG_ID, day.isoformat()],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for line in proc.stdout:
            log.write(line)
            if echo:
                echo(line.rstrip("\n"))
        return proc.wait()


def run_states(day, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The state of the DAG run for `day` and of each of its tasks, read from the SQLite metadata
    database of the AIRFLOW_HOME that airflow_env sets up (the `airflow dags list-runs` and
    `tasks states-for-dag-run` commands say the same, at ~6 s of start-up each)."""
    import sqlite3

    database = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        runs = db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ? AND logical_date LIKE ? ORDER BY id DESC",
                          (DAG_ID, f"{day.isoformat()}%")).fetchall()
        if not runs:
            raise LookupError(f"no run of {DAG_ID} for {day}")
        run_id, state = runs[0]
        tasks = db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)).fetchall()
    return state, dict(tasks)


def standalone() -> None:
    """Airflow's scheduler, dag-processor, API server and triggerer on 127.0.0.1:8080 (foreground)."""
    from clicklake.config import repo_root

    root = repo_root()
    env = airflow_env(root / ".data" / "airflow", root / "dags")
    env.setdefault("CLICKLAKE_DAG_RETRIES", "1")
    migrate(env)
    print("Airflow UI: http://127.0.0.1:8080  (user admin; the password is printed below and kept in "
          f"{env['AIRFLOW_HOME']}/simple_auth_manager_passwords.json.generated). Ctrl-C stops it.", flush=True)
    os.execvpe(airflow_bin(), [airflow_bin(), "standalone"], env)


if __name__ == "__main__":
    if sys.argv[1:] != ["standalone"]:
        sys.exit("usage: python -m clicklake.airflow_local standalone")
    standalone()
