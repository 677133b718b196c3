"""How a session is set up: sized for the day's landing files (clicklake.spark.tune_for_input), and
where its jars come from (jar_settings)."""

from __future__ import annotations

import pytest

from clicklake.spark import CODEGEN_MIN_INPUT_BYTES, jar_settings, tune_for_input

MIB = 2**20

TUNING_CASES = [
    # (description, landing bytes, environment, shuffle partitions, code generation)
    ("a small day: two partitions, interpreted", 5 * MIB, {}, "2", False),
    ("just under the threshold is still small", CODEGEN_MIN_INPUT_BYTES - 1, {}, "2", False),
    ("a big day: eight partitions, compiled", 893 * MIB, {}, "8", True),
    ("the environment's partitions win on a small day", 5 * MIB, {"CLICKLAKE_SHUFFLE_PARTITIONS": "5"}, "5", False),
    ("and on a big one", 893 * MIB, {"CLICKLAKE_SHUFFLE_PARTITIONS": "64"}, "64", True),
    ("code generation forced on for a small day", 5 * MIB, {"CLICKLAKE_SPARK_CODEGEN": "on"}, "2", True),
    ("code generation forced off for a big day", 893 * MIB, {"CLICKLAKE_SPARK_CODEGEN": "off"}, "8", False),
]


@pytest.mark.parametrize("landing_bytes,environment,partitions,codegen", [c[1:] for c in TUNING_CASES],
                         ids=[c[0] for c in TUNING_CASES])
def test_a_run_sizes_its_session_for_the_days_files(spark, monkeypatch, landing_bytes, environment, partitions, codegen):
    for name in ("CLICKLAKE_SHUFFLE_PARTITIONS", "CLICKLAKE_SPARK_CODEGEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    try:
        assert tune_for_input(spark, landing_bytes) is codegen
        assert spark.conf.get("spark.sql.shuffle.partitions") == partitions
        assert spark.conf.get("spark.sql.codegen.wholeStage") == str(codegen).lower()
    finally:
        monkeypatch.undo()
        tune_for_input(spark, 0)  # the other tests' session, as conftest set it


JARS = ["/c/io.delta_delta-spark_4.1_2.13-4.4.0.jar", "/c/org.apache.hadoop_hadoop-aws-3.4.2.jar",
        "/c/software.amazon.awssdk_bundle-2.29.52.jar"]
SMALL_JARS = ",".join(JARS[:2])

JAR_CASES = [
    # (description, master, spark.jars, class path of the driver and the executors)
    ("local mode: the AWS SDK bundle on the class path, not copied", "local[2]", SMALL_JARS, JARS[2]),
    ("a cluster on this machine: its executors read the same file", "spark://127.0.0.1:7077", SMALL_JARS, JARS[2]),
    ("a remote cluster: every jar is sent", "spark://spark-master.internal:7077", ",".join(JARS), None),
    ("a master spark-submit chooses: every jar is sent", "provided", ",".join(JARS), None),
]


@pytest.mark.parametrize("master,jars,class_path", [c[1:] for c in JAR_CASES], ids=[c[0] for c in JAR_CASES])
def test_jars_go_on_the_class_path_only_where_every_jvm_is_on_this_machine(master, jars, class_path):
    conf = jar_settings(JARS, master)
    assert conf["spark.jars"] == jars
    assert conf.get("spark.driver.extraClassPath") == conf.get("spark.executor.extraClassPath") == class_path
