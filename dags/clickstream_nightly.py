"""clickstream_nightly: one run per UTC delivery date, landing zone -> bronze -> silver -> gold.

This file only wires tasks; every task runs `clicklake run` for the run's date (in the task's own
process, through clicklake.airflow_tasks), which holds all logic. Nothing here reads data, calls
services or imports Spark when Airflow parses the file.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

S3_CONN_ID = "clicklake_s3"
RAW = "{{ var.value.clicklake_raw }}"
LAKE = "{{ var.value.clicklake_lake }}"
# The connection is the one place credentials live; the jobs get them as standard AWS variables.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "{{ conn.%s.login or '' }}" % S3_CONN_ID,
    "AWS_SECRET_ACCESS_KEY": "{{ conn.%s.password or '' }}" % S3_CONN_ID,
    "AWS_ENDPOINT_URL_S3": "{{ conn.%s.extra_dejson.get('endpoint_url', '') }}" % S3_CONN_ID,
    "AWS_REGION": "{{ conn.%s.extra_dejson.get('region_name', 'us-east-1') }}" % S3_CONN_ID,
}


def clicklake_run(day: str, layer: str, steps: str, raw: str, lake_root: str, s3_env: dict[str, str]) -> None:
    """`clicklake run` in the task's process; imported here so that parsing loads no Spark."""
    from clicklake.airflow_tasks import run_task

    run_task(day, layer, steps, raw, lake_root, s3_env)


def run_kwargs(layer: str, steps: str) -> dict:
    return {"day": "{{ ds }}", "layer": layer, "steps": steps, "raw": RAW, "lake_root": LAKE, "s3_env": S3_ENV}


DOC = """
### clickstream_nightly

Turns one UTC day of landing files (`<raw>/weblogs/dt=D/`, `<raw>/events/dt=D/`) into the lake's
bronze, silver and gold Delta tables. `ds` is the delivery date D; the data interval is that day.

Write-audit-publish, as SPEC 7 orders it (bronze -> gate -> silver -> gate -> gold -> gate ->
publish): `bronze_gate -> silver_gate -> gold_gate -> publish`. A layer task computes the date's
tables into staging (`<lake>/_staging/run_date=D/`), then gates them: it validates the staged
tables with the Great Expectations suites of `expectations/` and reconciles counts with the layer
below, records every check in `quality.validation_results` and builds Data Docs under
`<lake>/_quality/data_docs/`. Only
`publish` touches the tables readers see: one Delta commit per table, and only for staged batches
whose gate passed. A failed gate fails its task with the failed expectations and observed values
in the log; nothing after it runs and the published tables stay as they were. Gate tasks do not
retry (a failed expectation is not transient): fix the cause, then clear the task.

Reruns and backfills are safe: a run rewrites exactly its date's partitions (silver.hits and gold
also the few neighbouring dates that late data and sessions crossing midnight touch).

Settings: Variables `clicklake_raw`, `clicklake_lake` (s3:// URIs); Connection `clicklake_s3`
(aws; extra `endpoint_url` for a non-AWS S3 server). Environment of the workers:
`CLICKLAKE_VISITOR_HASH_KEY` and the other `CLICKLAKE_*` settings (README, Configuration).
"""

default_args = {
    "owner": "clickstream-data",
    "retries": int(os.environ.get("CLICKLAKE_DAG_RETRIES", "2")),
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}

with DAG(
    dag_id="clickstream_nightly",
    description="Web logs and page tags of one UTC day -> bronze, silver, gold Delta tables",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    catchup=True,
    # Runs of neighbouring dates rewrite overlapping session dates; one at a time keeps commits clean.
    max_active_runs=1,
    default_args=default_args,
    tags=["clicklake", "clickstream", "delta"],
    doc_md=DOC,
) as dag:
    wait_for_landing_files = S3KeySensor(
        task_id="wait_for_landing_files",
        aws_conn_id=S3_CONN_ID,
        bucket_key=[f"{RAW}/weblogs/dt={{{{ ds }}}}/*", f"{RAW}/events/dt={{{{ ds }}}}/*"],
        wildcard_match=True,
        mode="reschedule",
        poke_interval=timedelta(minutes=5).total_seconds(),
        timeout=timedelta(hours=12).total_seconds(),
        doc_md="Waits until both landing prefixes of the date hold at least one file.",
    )
    previous = wait_for_landing_files
    for layer in ("bronze", "silver", "gold"):
        # write and audit share a task: a task is a Spark driver, and starting one costs more than
        # the gate itself; the gate reads the staged tables back from the lake all the same.
        task = PythonOperator(
            task_id=f"{layer}_gate",
            python_callable=clicklake_run,
            op_kwargs=run_kwargs(layer, "write,audit"),
            # A failed expectation does not heal by itself: retrying would only delay the alert.
            retries=0,
            doc_md=(
                f"Computes the date's {layer} tables into staging, then gates them: expectations/{layer}.*.yml "
                "and the reconciliation with the layer below. Fails, naming the expectations and observed values, "
                "if any `fail` expectation does not hold. Publishes nothing."
            ),
        )
        previous >> task
        previous = task
    publish = PythonOperator(
        task_id="publish",
        python_callable=clicklake_run,
        op_kwargs=run_kwargs("all", "publish"),
        doc_md="Replaces the date's ranges of every published table with the staged tables whose gate passed, one Delta commit each.",
    )
    previous >> publish
