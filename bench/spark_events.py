"""What a Spark event log says about a run: where the time went, by job description (the pipeline
names its jobs: "silver write 2026-11-28: tag_events.py:157 tag_silver", "publish gold.sessions
..."), and how evenly each stage's records were spread over its tasks (skew).

    spark_events.submit_args(folder)   # PYSPARK_SUBMIT_ARGS that make a child's session log to folder
    spark_events.report(folder)        # prints both tables, returns the figures for the JSON line
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

# A stage is skewed when its largest task holds more than this many times an even share of the
# stage's records; stages under MIN_RECORDS or MIN_TASK_S are too small to matter.
SKEW_FACTOR = 2.0
MIN_RECORDS = 100_000
MIN_TASK_S = 1.0


def submit_args(folder: Path, existing: str = "") -> str:
    """Uncompressed, so this module reads it without a zstd library; `existing` (a
    PYSPARK_SUBMIT_ARGS the user set) is kept in front."""
    folder.mkdir(parents=True, exist_ok=True)
    kept = existing.replace("pyspark-shell", "").strip()
    return " ".join(filter(None, (kept, f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir={folder.resolve().as_uri()} "
                                        "--conf spark.eventLog.compress=false pyspark-shell")))


def newest_log(folder: Path) -> list[Path]:
    """The event files of the newest application in folder (a rolling log is several files)."""
    apps = sorted((p for p in folder.iterdir() if p.name.startswith("eventlog_v2_") or p.is_file()), key=lambda p: p.stat().st_mtime)
    if not apps:
        raise FileNotFoundError(f"no Spark event log in {folder}")
    app = apps[-1]
    if app.is_file():
        return [app]
    number = re.compile(r"^events_(\d+)_")
    return sorted((p for p in app.iterdir() if number.match(p.name)), key=lambda p: int(number.match(p.name).group(1)))


def read(files: list[Path]) -> tuple[dict, dict, dict]:
    """-> jobs {id: [description, start ms, end ms]}, stage descriptions {stage: description of
    the job that ran it}, tasks {stage: [(run ms, records), ...]}."""
    jobs, stage_description, tasks = {}, {}, defaultdict(list)
    for path in files:
        with path.open() as lines:
            for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind = event["Event"]
                if kind == "SparkListenerJobStart":
                    description = (event.get("Properties") or {}).get("spark.job.description") or "(unnamed)"
                    jobs[event["Job ID"]] = [description, event["Submission Time"], None]
                elif kind == "SparkListenerStageSubmitted":
                    # A job lists stages it skips (run by an earlier job); the submitting job's own
                    # properties name the stage.
                    properties = event.get("Properties") or {}
                    stage_description[event["Stage Info"]["Stage ID"]] = properties.get("spark.job.description") or "(unnamed)"
                elif kind == "SparkListenerJobEnd" and event["Job ID"] in jobs:
                    jobs[event["Job ID"]][2] = event["Completion Time"]
                elif kind == "SparkListenerTaskEnd":
                    metrics = event.get("Task Metrics") or {}
                    records = ((metrics.get("Shuffle Read Metrics") or {}).get("Total Records Read", 0)
                               + (metrics.get("Input Metrics") or {}).get("Records Read", 0))
                    tasks[event["Stage ID"]].append((metrics.get("Executor Run Time", 0), records))
    return jobs, stage_description, tasks


def report(folder: Path, top: int = 12) -> dict:
    jobs, stage_description, tasks = read(newest_log(folder))
    by_description: dict[str, float] = defaultdict(float)
    for description, start, end in jobs.values():
        if end is not None:
            by_description[description] += (end - start) / 1000
    total = sum(by_description.values())
    print(f"\nwhere the time went (Spark jobs by description; {total:,.0f} s of jobs, threads overlap):")
    for description, seconds in sorted(by_description.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{seconds:8.1f} s  {description}")

    stages = []
    for stage, runs in tasks.items():
        records = sum(r for _, r in runs)
        if len(runs) < 2 or records < MIN_RECORDS:
            continue
        largest = max(runs, key=lambda run: run[1])
        share, even = largest[1] / records, 1 / len(runs)
        stages.append({"stage": stage, "tasks": len(runs), "records": records, "largest_task_share": round(share, 4),
                       "even_share": round(even, 4), "skew": share / even, "largest_task_s": round(largest[0] / 1000, 1),
                       "description": stage_description.get(stage, "?")})
    # Skewed: the task holding the most records holds over SKEW_FACTOR even shares and ran long enough to matter.
    skewed = [s for s in stages if s["skew"] > SKEW_FACTOR and s["largest_task_s"] >= MIN_TASK_S]
    print(f"\nskew: {len(stages)} stages of {MIN_RECORDS:,}+ records in 2+ tasks; {len(skewed)} with a task holding more than "
          f"{SKEW_FACTOR:g}x an even share for {MIN_TASK_S:g} s or more:")
    for s in sorted(skewed, key=lambda s: -s["largest_task_s"])[:top]:
        print(f"  stage {s['stage']}: {s['records']:,} records in {s['tasks']} tasks, the largest holds {s['largest_task_share']:.0%} "
              f"(even: {s['even_share']:.0%}) and ran {s['largest_task_s']} s; {s['description']}")
    worst = max(stages, key=lambda s: s["skew"], default=None)
    return {"job_seconds_by_description": {d: round(s, 1) for d, s in sorted(by_description.items(), key=lambda kv: -kv[1])[:top]},
            "skewed_stages": skewed, "worst_stage_skew": worst}
