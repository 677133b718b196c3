"""Every DAG imports cleanly, has owners, tags, retries and docs, and does no work at parse time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parent.parent / "dags"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    import os

    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == {"clickstream_nightly", "clickstream_maintenance"}


def test_every_dag_has_owner_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.doc_md, f"{dag_id}.{task.task_id} has no doc_md"
            if task.task_id.endswith("_gate"):
                # a failed expectation is not transient: the gate fails at once, for people to look
                assert task.retries == 0, f"{dag_id}.{task.task_id} retries a deterministic check"
                continue
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
            assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id} retries without backoff"


def test_nightly_dag_shape(dagbag):
    dag = dagbag.dags["clickstream_nightly"]
    assert dag.catchup and dag.max_active_runs == 1
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable", "one run per UTC day, data interval = that day"
    # SPEC 7: bronze -> gate -> silver -> gate -> gold -> gate -> publish
    order = ["wait_for_landing_files", "bronze_gate", "silver_gate", "gold_gate", "publish"]
    assert [t.task_id for t in dag.topological_sort()] == order
    for upstream, downstream in zip(order, order[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    for layer in ("bronze", "silver", "gold"):
        arguments = dag.get_task(f"{layer}_gate").op_kwargs
        assert (arguments["day"], arguments["layer"], arguments["steps"]) == ("{{ ds }}", layer, "write,audit")
    arguments = dag.get_task("publish").op_kwargs
    assert (arguments["layer"], arguments["steps"]) == ("all", "publish")
    sensor = dag.get_task("wait_for_landing_files")
    assert sensor.mode == "reschedule" and sensor.wildcard_match


def test_maintenance_dag_shape(dagbag):
    dag = dagbag.dags["clickstream_maintenance"]
    assert not dag.catchup and dag.max_active_runs == 1
    (task,) = dag.tasks
    assert task.op_kwargs["day"] == "{{ macros.ds_add(ds, 6) }}", "the week that ended: ds .. ds + 6"


@pytest.mark.parametrize("dag_file", ["clickstream_nightly.py", "clickstream_maintenance.py"])
def test_parsing_the_dag_file_does_no_work(dag_file):
    """Parsing must not start Spark or load the jobs (the S3 sensor's provider brings boto3, which is fine)."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "print(sorted(m for m in ('pyspark', 'clicklake', 'great_expectations', 'delta') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(DAGS / dag_file)], capture_output=True, text=True,
                         env={"AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                              "AIRFLOW_HOME": str(Path(__file__).resolve().parent.parent / ".data" / "airflow-parse-test")})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
