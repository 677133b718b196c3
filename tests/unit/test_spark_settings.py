"""How a run sizes its Spark session for the day's landing files (clicklake.spark.tune_for_input)."""

from __future__ import annotations

import pytest

from clicklake.spark import CODEGEN_MIN_INPUT_BYTES, tune_for_input

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
