"""What the end-to-end tests share besides fixtures (see conftest.py): the days they run and how
to reach the session's S3 server."""

import datetime as dt
import subprocess
from pathlib import Path

from clicklake.config import S3Settings

REPO = Path(__file__).resolve().parents[2]
# The backfill's days, D first (two: the second rewrites sessions of the first across midnight,
# and publishes into tables that exist). Days whose data intervals are over: Airflow backfills no day that
# has not ended yet.
D = dt.date(2026, 11, 26)
BACKFILL_DAYS = tuple(D + dt.timedelta(days=k) for k in range(2))
# Delivered with one access-log file twice under two names, and run after the backfill.
BAD_DAY = D + dt.timedelta(days=2)


def infra(script: str, command: str, env: dict) -> str:
    """Run a service script of infra/ (s3-local, spark-cluster, spark-connect); its output fails the test unless it
    succeeds. Returns what it printed."""
    done = subprocess.run([str(REPO / "infra" / script), command], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def s3_settings(env) -> S3Settings:
    return S3Settings(env["AWS_ENDPOINT_URL_S3"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"])
