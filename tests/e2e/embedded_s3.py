"""What the end-to-end tests share besides fixtures (see conftest.py): the days they run and how
to reach the session's S3 server."""

import datetime as dt
import subprocess
from pathlib import Path

from clicklake.config import S3Settings

REPO = Path(__file__).resolve().parents[2]
# The backfill's good day and the bad day after it: days whose data intervals are over (Airflow
# backfills no day that has not ended yet). One good day: a second cost 70-105 s of the suite and
# showed nothing the in-process tests of several days (tests/integration) do not; the writes into
# tables that hold rows through the Connect server happen on D already (the gates' verdicts
# after the first, the bad day's read of what D published with delta-rs).
D = dt.date(2026, 11, 26)
BACKFILL_DAYS = (D,)
# Delivered with one access-log file twice under two names, and run after the good day.
BAD_DAY = D + dt.timedelta(days=1)


def infra(script: str, command: str, env: dict) -> str:
    """Run a service script of infra/ (s3-local, spark-cluster, spark-connect); its output fails the test unless it
    succeeds. Returns what it printed."""
    done = subprocess.run([str(REPO / "infra" / script), command], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def s3_settings(env) -> S3Settings:
    return S3Settings(env["AWS_ENDPOINT_URL_S3"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"])
