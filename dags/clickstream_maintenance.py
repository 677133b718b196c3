"""clickstream_maintenance: once a week, compact the last week's date partitions of every table
and delete the data files no table version of the retention needs (OPTIMIZE, VACUUM).

This file only wires the task; it runs `clicklake maintain` (clicklake.maintenance) in the task's
own process. Nothing here reads data or imports Spark when Airflow parses the file.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

# As in clickstream_nightly.py (a DAG file cannot import another: each is loaded on its own).
S3_CONN_ID = "clicklake_s3"
LAKE = "{{ var.value.clicklake_lake }}"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "{{ conn.%s.login or '' }}" % S3_CONN_ID,
    "AWS_SECRET_ACCESS_KEY": "{{ conn.%s.password or '' }}" % S3_CONN_ID,
    "AWS_ENDPOINT_URL_S3": "{{ conn.%s.extra_dejson.get('endpoint_url', '') }}" % S3_CONN_ID,
    "AWS_REGION": "{{ conn.%s.extra_dejson.get('region_name', 'us-east-1') }}" % S3_CONN_ID,
}


def clicklake_maintain(day: str, lake_root: str, s3_env: dict[str, str]) -> None:
    """`clicklake maintain` in the task's process; imported here so that parsing loads no Spark."""
    from clicklake.airflow_tasks import maintain_task

    maintain_task(day, lake_root, s3_env)


DOC = """
### clickstream_maintenance

Every Sunday at 06:00 UTC, for the week that ended (`ds` is its first day, so the task compacts
the seven dates `ds` .. `ds` + 6):

- **OPTIMIZE** (compaction) of those dates' partitions of every table: a date written as several
  files (days of 2 million rows or more a table keep Spark's split) becomes one file of up to 1 GB;
  a date that is one file already is left as it is.
- **VACUUM LITE** with Delta's default retention of 7 days: deletes the data files that runs,
  reruns and backfills replaced more than a week ago, found in the Delta log. Nothing else deletes
  them, so without this task storage grows with every run while the tables stay the same size.
  Time travel reaches back 7 days. Files no commit ever named (a writer killed before its commit)
  need a full vacuum, which lists storage: `clicklake maintain --full-vacuum`, now and then.

It runs after the nightly run of the same morning has published (00:00 UTC start; a nightly run
takes minutes). Should they overlap, Delta refuses one of the two conflicting commits and its task
retries; the tables stay consistent either way.

Settings: Variable `clicklake_lake`, Connection `clicklake_s3` (as clickstream_nightly).
"""

with DAG(
    dag_id="clickstream_maintenance",
    description="Weekly OPTIMIZE and VACUUM of the lake's Delta tables",
    schedule=CronDataIntervalTimetable("0 6 * * 0", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
    # Maintenance of a missed week is done by the next run's VACUUM; compaction of old weeks is rarely worth a backlog.
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "clickstream-data",
        "retries": int(os.environ.get("CLICKLAKE_DAG_RETRIES", "2")),
        "retry_delay": timedelta(minutes=15),
        "retry_exponential_backoff": 2.0,
        "execution_timeout": timedelta(hours=4),
    },
    tags=["clicklake", "clickstream", "delta", "maintenance"],
    doc_md=DOC,
) as dag:
    PythonOperator(
        task_id="optimize_and_vacuum",
        python_callable=clicklake_maintain,
        op_kwargs={"day": "{{ macros.ds_add(ds, 6) }}", "lake_root": LAKE, "s3_env": S3_ENV},
        doc_md="`clicklake maintain --date <ds + 6> --days 7`: compacts the week's partitions of every table, then vacuums every table.",
    )
