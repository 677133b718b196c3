"""Cluster mode: `clicklake run` unchanged on a Spark standalone cluster (a master and two worker
JVMs on 127.0.0.1, started by infra/spark-cluster), reading the landing zone and writing the lake
through s3a:// on the embedded S3 server; its tables equal those the nightly DAG's run of the same
landing files published (conftest.backfill: tasks on a local-mode Spark Connect server), as that
run left them."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from embedded_s3 import D, infra, s3_settings

from clicklake import lake, storage
from clicklake.duck import storage_options
from clicklake.tables import all_tables

pytestmark = pytest.mark.e2e

MASTER_PORT = 7177  # apart from a cluster a developer may have running on 7077
MASTER = f"spark://127.0.0.1:{MASTER_PORT}"
CLUSTER_LAKE = "s3://clicklake/cluster-test/lake"
EXECUTOR_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"


@pytest.fixture(scope="module")
def spark_cluster(s3_env, tmp_path_factory):
    env = {**s3_env, "CLICKLAKE_SPARK_CLUSTER_DIR": str(tmp_path_factory.mktemp("spark-cluster")),
           "CLICKLAKE_SPARK_MASTER_PORT": str(MASTER_PORT)}
    infra("spark-cluster", "start", env)
    yield env
    stopped = infra("spark-cluster", "stop", env)
    assert "stopped 3 process(es)" in stopped, stopped


def clicklake_run_on_the_cluster(env: dict, log: Path) -> None:
    command = [str(Path(sys.executable).with_name("clicklake")), "run", "--date", str(D), "--raw", env["CLICKLAKE_RAW"],
               "--lake", CLUSTER_LAKE]
    # Three shuffle partitions, where the local run of this small day had two (spark.tune_for_input):
    # the tables must not depend on it. A tiny day split 8 ways is mostly per-task overhead there.
    # Executors that live for one small day gain nothing from the optimizing JIT's compiling:
    # this run took 124-130 s instead of 156-167 s by itself; in the suite the test took 128-149 s
    # (177 s in a slow hour) against 166 s before (2026-12-01).
    with log.open("w") as out:
        code = subprocess.run(command, env={**env, "CLICKLAKE_SPARK_MASTER": MASTER, "CLICKLAKE_SHUFFLE_PARTITIONS": "3",
                                            "CLICKLAKE_EXECUTOR_JAVA_OPTIONS": EXECUTOR_JAVA_OPTIONS},
                              stdout=out, stderr=subprocess.STDOUT).returncode
    assert code == 0, log.read_text()[-5000:]


def table_rows(lake: str, name: str, env: dict, as_of: dt.datetime | None = None) -> pa.Table:
    """Every row of a table's current version (or its version at `as_of`), in one order (row
    order is no table property)."""
    delta = DeltaTable(all_tables()[name].path(lake), storage_options=storage_options(s3_settings(env)))
    if as_of is not None:
        delta.load_as_version(as_of)
    rows = delta.to_pyarrow_table()
    return rows.sort_by([(column, "ascending") for column in rows.column_names
                         if not pa.types.is_nested(rows.schema.field(column).type)])


def test_a_cluster_run_writes_the_tables_a_local_run_writes(spark_cluster, backfill, tmp_path):
    env = spark_cluster
    local_run = backfill.runs[D]
    assert local_run["state"] == "success", "the local-mode run to compare with failed (see the backfill tests)"
    # The backfill's later days rewrote some of D's rows (sessions across midnight, late events):
    # the local tables as D's run left them.
    as_of = dt.datetime.fromisoformat(local_run["end_date"])
    clicklake_run_on_the_cluster(env, tmp_path / "cluster.log")
    # The run really was the cluster's: the workers launched one application's two executors, in
    # their own JVMs, and each of them ran tasks of it.
    apps = list((Path(env["CLICKLAKE_SPARK_CLUSTER_DIR"]) / "work").glob("app-*"))
    assert len(apps) == 1, apps
    executor_logs = sorted(apps[0].glob("*/stderr"))
    assert len(executor_logs) == 2, executor_logs
    for log in executor_logs:
        text = log.read_text()
        assert "Finished task" in text, f"{log}: this executor ran no task"
        launched_with = text.split("\n", 1)[0]  # the worker's "Spark Executor Command: ..." line
        assert EXECUTOR_JAVA_OPTIONS in launched_with, f"{log}: CLICKLAKE_EXECUTOR_JAVA_OPTIONS did not reach the executor"

    # Intermediate frames were checkpointed into the run's staging area, and nothing of them is left.
    staging = storage.open_location(lake.staging_root(CLUSTER_LAKE, D), s3_settings(env))
    assert staging.list("_checkpoints") == [], "the run left checkpoint files behind"

    compared = 0
    for name in sorted(all_tables()):
        if name.startswith("quality."):
            continue  # the gates' verdicts carry their run's time
        cluster, local = table_rows(CLUSTER_LAKE, name, env), table_rows(env["CLICKLAKE_LAKE"], name, env, as_of)
        assert cluster.num_rows == local.num_rows, name
        assert cluster.equals(local), f"{name}: the cluster run's rows differ from the local run's"
        compared += 1
    assert compared == 17
    assert table_rows(CLUSTER_LAKE, "gold.sessions", env).num_rows == backfill.summaries[D]["sessions"]
