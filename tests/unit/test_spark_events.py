"""bench/spark_events.py reads Spark event logs the way Spark writes them: rolling files in order,
stage names from the job that ran the stage, skew judged per stage. Synthetic logs, no Spark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import spark_events  # noqa: E402


def job_start(job, stages, description):
    return {"Event": "SparkListenerJobStart", "Job ID": job, "Submission Time": 1_000 * job, "Stage IDs": stages,
            "Properties": {"spark.job.description": description}}


def stage_submitted(stage, description):
    return {"Event": "SparkListenerStageSubmitted", "Stage Info": {"Stage ID": stage},
            "Properties": {"spark.job.description": description}}


def task_end(stage, run_ms, records):
    return {"Event": "SparkListenerTaskEnd", "Stage ID": stage,
            "Task Metrics": {"Executor Run Time": run_ms, "Input Metrics": {"Records Read": records}}}


def write_rolling_log(folder: Path, parts: list[list[dict]]) -> None:
    app = folder / "eventlog_v2_local-1"
    app.mkdir(parents=True)
    (app / "appstatus_local-1").write_text("")
    for number, events in enumerate(parts, start=1):
        (app / f"events_{number}_local-1").write_text("\n".join(json.dumps(e) for e in events) + "\n")


def four_tasks(heavy_ms, heavy_records, light_records=10_000):
    return [task_end(1, heavy_ms, heavy_records)] + [task_end(1, 100, light_records) for _ in range(3)]


CASES = [
    ("a stage holding most records in one long task is skewed", four_tasks(5_000, 300_000), 1),
    ("an even stage is not", four_tasks(2_000, 100_000, light_records=100_000), 0),
    ("an uneven stage whose heavy task is quick does not matter", four_tasks(400, 300_000), 0),
    ("a small stage does not count, however uneven", four_tasks(5_000, 60_000, light_records=1), 0),
]


@pytest.mark.parametrize("events, skewed", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_skew_cases(tmp_path, events, skewed):
    write_rolling_log(tmp_path, [[job_start(0, [1], "silver write"), stage_submitted(1, "silver write"), *events]])
    assert len(spark_events.report(tmp_path)["skewed_stages"]) == skewed


def test_rolling_files_are_read_in_number_order_and_a_skipped_stage_keeps_the_name_of_the_job_that_ran_it(tmp_path):
    # Job 1 lists stage 1 again but skips it (its shuffle files exist): stage 1 stays job 0's.
    first = [job_start(0, [1], "silver write D: tag_events.py:157 tag_silver"), stage_submitted(1, "silver write D: tag_events.py:157 tag_silver")]
    tenth = [job_start(1, [1, 2], "silver gate D: silver.tag_events"), stage_submitted(2, "silver gate D: silver.tag_events"),
             task_end(1, 4_000, 400_000), *[task_end(1, 100, 10_000) for _ in range(3)]]
    parts = [first] + [[] for _ in range(8)] + [tenth]  # events_10 sorts before events_2 as text
    write_rolling_log(tmp_path, parts)
    jobs, stage_description, tasks = spark_events.read(spark_events.newest_log(tmp_path))
    assert stage_description[1].endswith("tag_silver")
    assert list(jobs) == [0, 1]
    [stage] = spark_events.report(tmp_path)["skewed_stages"]
    assert stage["description"].endswith("tag_silver") and stage["largest_task_share"] == pytest.approx(400 / 430, abs=1e-4)


def test_many_tasks_do_not_round_an_even_share_to_nothing(tmp_path):
    events = [task_end(1, 1_000, 100) for _ in range(2_500)]
    write_rolling_log(tmp_path, [[job_start(0, [1], "bronze write"), stage_submitted(1, "bronze write"), *events]])
    report = spark_events.report(tmp_path)
    assert report["skewed_stages"] == [] and report["worst_stage_skew"]["skew"] == pytest.approx(1.0)
