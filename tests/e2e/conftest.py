"""What the end-to-end tests share: one real S3 server over HTTP for the session, on its own port
and data folder (apart from a demo server a developer may have running), one Airflow home, and
the nightly DAG's run of day D into s3://clicklake/lake, which several tests read."""

from __future__ import annotations

import os

import pytest
from embedded_s3 import REPO, D, infra, s3_settings

from clicklake import airflow_local
from clicklake.generator import generate

PORT_OFFSET = 100  # S3 on 8433: apart from a demo server on 8333


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory):
    data = tmp_path_factory.mktemp("s3")
    env = {
        **os.environ,
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
    }
    infra("s3-local", "start", env)
    yield env
    infra("s3-local", "stop", env)


@pytest.fixture(scope="session")
def airflow_env(s3_env, tmp_path_factory):
    """One AIRFLOW_HOME (SQLite metadata, migrated once) for the session's DAG runs."""
    env = airflow_local.airflow_env(tmp_path_factory.mktemp("airflow"), REPO / "dags", base=s3_env)
    airflow_local.migrate(env)
    return env


@pytest.fixture(scope="session")
def nightly(s3_env, airflow_env, tmp_path_factory) -> dict:
    """Day D generated into s3://clicklake/raw and run by Airflow (`airflow dags test`, every task
    in local mode) into s3://clicklake/lake: the exit code, the log and the generator's summary."""
    summary = generate(D, s3_env["CLICKLAKE_RAW"], visitors=150, seed=11, s3=s3_settings(s3_env))
    log = tmp_path_factory.mktemp("nightly") / "dags-test.log"
    code = airflow_local.dags_test(D, airflow_env, log)
    return {"code": code, "log": log.read_text(), "summary": summary}
