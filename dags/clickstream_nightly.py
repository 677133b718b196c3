"""clickstream_nightly: one run per UTC delivery date, landing zone -> bronze -> silver -> gold.

This file only wires tasks; every task runs `clicklake run` for the run's date, which holds all
logic. Nothing here reads data or calls services when Airflow parses the file.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.standard.operators.bash import BashOperator
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
# The interpreter Airflow runs in has clicklake installed next to it.
CLICKLAKE = f"{sys.executable} -m clicklake run --date {{{{ ds }}}} --raw {RAW} --lake {LAKE}"

DOC = """
### clickstream_nightly

Turns one UTC day of landing files (`<raw>/weblogs/dt=D/`, `<raw>/events/dt=D/`) into the lake's
bronze, silver and gold Delta tables. `ds` is the delivery date D; the data interval is that day.

Each layer is one task that writes, audits, then publishes: it computes the date's tables as
staged batches, validates them with the layer's Great Expectations suites (the gate), and only
then publishes them, one Delta commit per table. A failed gate fails the task, names the failed
expectations with observed values in the log, keeps the rejected batch under
`<lake>/_rejected/` and leaves the published tables as they were; the next layer does not run.
(One task per layer, not two: each task starts a Spark driver, and the gate validates the
batches that driver holds.)

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
        task = BashOperator(
            task_id=layer,
            bash_command=f"{CLICKLAKE} --layer {layer}",
            env=S3_ENV,
            append_env=True,
            doc_md=(
                f"`clicklake run --layer {layer}`: computes the date's {layer} tables, validates them with "
                f"expectations/{layer}.*.yml and publishes them only if every `fail` expectation holds."
            ),
        )
        previous >> task
        previous = task
