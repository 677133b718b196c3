"""Airflow on this machine: an AIRFLOW_HOME with SQLite metadata in an ignored folder, the
checkout's dags/, and the S3 connection and Variables taken from the environment."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DAG_ID = "clickstream_nightly"


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def airflow_env(home: Path, dags: Path, base: dict[str, str] | None = None, port: int = 8080) -> dict[str, str]:
    """Environment for `airflow` commands; S3 connection and Variables from the AWS_*/CLICKLAKE_* settings.

    `port`: the API server's (UI and REST API); the tasks reach its execution API there too."""
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
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            # task.stdout: what a task prints (the gates' verdicts) reaches its log at INFO.
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "airflow.task=INFO task=INFO",
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


class Standalone:
    """`airflow standalone` (scheduler, DAG processor, API server, triggerer) in the background,
    and its REST API as the admin user. Stop it with stop(): every process it started ends."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.url = env["AIRFLOW__API__BASE_URL"]
        self.home = Path(env["AIRFLOW_HOME"])
        # Started in the background Airflow ignores SIGINT and SIGTERM orphans its children; with
        # SIGINT restored before exec it shuts everything down cleanly.
        restore = "import os,signal,sys;signal.signal(signal.SIGINT,signal.SIG_DFL);os.execvp(sys.argv[1],sys.argv[1:])"
        with log_path.open("w") as log:
            self.process = subprocess.Popen([sys.executable, "-c", restore, airflow_bin(), "standalone"],
                                            env=env, stdout=log, stderr=subprocess.STDOUT)
        self.token = self.password = None

    def login(self, timeout_s: float = 180) -> None:
        """Wait for the API server and the admin password, then take a token."""
        import urllib.request

        wait_until(lambda: urllib.request.urlopen(self.url + "/api/v2/monitor/health", timeout=5).status == 200,
                   timeout_s, "the Airflow API server answering", alive=self.process)
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        self.password = wait_until(lambda: json.loads(passwords.read_text()).get("admin") if passwords.is_file() else None,
                                   60, "the admin password", alive=self.process)
        self.token = self.api("/auth/token", body={"username": "admin", "password": self.password})["access_token"]

    def api(self, path: str, body: dict | None = None, method: str | None = None) -> dict:
        """GET, or POST a JSON body (another method by name), as the admin."""
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def stop(self, timeout_s: float = 60) -> list[int]:
        """SIGINT, as Ctrl-C would; killed if it does not end in time. Returns the pids of the
        processes it started that a SIGTERM did not end (none, when it stopped cleanly); psutil
        ships with Airflow.

        Standalone stops its components with one SIGTERM each and waits for them. Airflow's
        scheduler can go on running after it (seen once, in a clean-clone test run of 2026-12-01,
        after many clean stops: its loop still turning 18 minutes later; it ended at a second
        SIGTERM, as in apache/airflow#11982), and standalone then waits for it forever. The components still running then get
        the second SIGTERM that an operator or systemd would send; only what survives that counts."""
        import psutil

        try:
            started = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            started = []
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        _, alive = psutil.wait_procs(started, timeout=15)
        if alive:
            print("airflow standalone: sending a second SIGTERM to "
                  + ", ".join(f"{p.pid} ({' '.join(_command_of(p))})" for p in alive), flush=True)
            for process in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.terminate()
            _, alive = psutil.wait_procs(alive, timeout=15)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        return [p.pid for p in alive]


def _command_of(process) -> list[str]:
    import psutil

    try:
        return process.cmdline()[-2:]
    except psutil.Error:
        return ["?"]


def finished_backfill_runs(airflow: Standalone, count: int) -> list[dict] | None:
    """The backfill runs of the nightly DAG, once `count` of them have ended (by logical date)."""
    runs = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns?run_type=backfill&order_by=logical_date")["dag_runs"]
    done = [r for r in runs if r["state"] in ("success", "failed")]
    return done if len(done) >= count else None


def wait_until(check, timeout_s: float, what: str, every_s: float = 2.0, alive: subprocess.Popen | None = None):
    """check()'s first true result, asked every `every_s`; a connection error or a file read
    half-written (ValueError) counts as not yet.
    Raises TimeoutError naming `what`, or RuntimeError when the `alive` process has ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"waiting for {what}: the process exited with {alive.returncode}")
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError):
            pass
        time.sleep(every_s)
    raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")


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
