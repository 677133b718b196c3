"""What the end-to-end tests share besides fixtures (see conftest.py): the day they run and how
to reach the session's S3 server."""

import datetime as dt
import subprocess
from pathlib import Path

from clicklake.config import S3Settings

REPO = Path(__file__).resolve().parents[2]
D = dt.date(2026, 11, 28)


def infra(script: str, command: str, env: dict) -> str:
    """Run a service script of infra/ (s3-local, spark-cluster); its output fails the test unless it
    succeeds. Returns what it printed."""
    done = subprocess.run([str(REPO / "infra" / script), command], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def s3_settings(env) -> S3Settings:
    return S3Settings(env["AWS_ENDPOINT_URL_S3"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"])
