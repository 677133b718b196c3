"""Benchmark: what a week of nightly runs and one backfill leave in storage, and what `clicklake
maintain` (OPTIMIZE + VACUUM) does to it and to reading the tables.

    .venv/bin/python bench/maintenance_bench.py [--days 7] [--visitors 300]

Generates DAYS days (cached under .cache/bench/), runs them in order into a fresh local lake, then
runs every day again (a backfill after a fix), as the nightly DAG would; counts per layer the
data files the current table versions read and the data files in storage, and times reading every
table in full; then runs maintenance with a retention of 0 hours (the files are minutes old here;
production keeps 7 days) and measures again. Prints a table and a JSON line. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRST = dt.date(2026, 11, 2)


def measure(spark, lake_root: str) -> dict:
    from pyspark.sql import functions as F

    from clicklake import lake, maintenance
    from clicklake.tables import all_tables, table

    out = {}
    for name in sorted(all_tables()):
        if not lake.is_delta_table(spark, table(name).path(lake_root)):
            continue
        layer = name.split(".")[0]
        df = lake.read_published(spark, name, lake_root)
        started = time.perf_counter()
        df.agg(F.count(F.lit(1))).first()  # a full read: every live file is opened
        seconds = time.perf_counter() - started
        live = df.inputFiles()
        entry = out.setdefault(layer, {"live_files": 0, "stored_files": 0, "read_s": 0.0})
        entry["live_files"] += len(live)
        entry["stored_files"] += maintenance.stored_data_files(spark, name, lake_root)
        entry["read_s"] += seconds
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--visitors", type=int, default=300)
    args = ap.parse_args()

    from clicklake import maintenance, pipeline
    from clicklake.config import Settings
    from clicklake.generator import generate
    from clicklake.spark import get_spark

    days = [FIRST + dt.timedelta(days=k) for k in range(args.days)]
    raw = REPO / ".cache" / "bench" / f"maintenance-raw-{args.days}-{args.visitors}"
    for day in days:
        if not (raw / "_truth" / f"dt={day}" / "summary.json").exists():
            generate(day, str(raw), visitors=args.visitors, seed=3)
    lake_dir = REPO / ".cache" / "bench" / "maintenance-lake"
    shutil.rmtree(lake_dir, ignore_errors=True)
    settings = Settings(raw=str(raw), lake=str(lake_dir), visitor_hash_key="bench-visitor-key")
    spark = get_spark("clicklake maintenance bench")

    started = time.perf_counter()
    for day in days + days:  # the nightly runs, then a backfill of the same dates
        pipeline.run(spark, settings, day)
    print(f"{2 * len(days)} runs in {time.perf_counter() - started:.0f} s", flush=True)
    measure(spark, settings.lake)  # a first read warms the JVM, so both timings below are warm
    before = measure(spark, settings.lake)
    started = time.perf_counter()
    reports = maintenance.maintain(spark, settings.lake, days[-1], days=len(days), retain_hours=0)
    maintain_s = time.perf_counter() - started
    after = measure(spark, settings.lake)

    print(f"\n{'layer':8s} {'live files':>18s} {'stored files':>18s} {'full read s':>16s}   (before -> after maintenance)")
    for layer in before:
        b, a = before[layer], after[layer]
        print(f"{layer:8s} {b['live_files']:8d} -> {a['live_files']:<7d} {b['stored_files']:8d} -> {a['stored_files']:<7d} "
              f"{b['read_s']:6.2f} -> {a['read_s']:<6.2f}")
    print(f"maintenance: {maintain_s:.0f} s for {len(reports)} tables, compacted {sum(r.compacted_removed for r in reports)} "
          f"files into {sum(r.compacted_added for r in reports)}")
    print(json.dumps({"days": len(days), "runs": 2 * len(days), "visitors": args.visitors, "maintain_s": round(maintain_s, 1),
                      "before": before, "after": after}))
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
