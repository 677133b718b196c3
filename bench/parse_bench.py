"""Benchmark: access-log parsing and classification, Spark (the pipeline's own transforms) against a
DuckDB yardstick doing the same parse on the same gzip files, in one invocation.

    make bench-parse                       # 2,000,000 lines in 8 gzip files
    .venv/bin/python bench/parse_bench.py --lines 500000 --files 4

Lines come from the project's generator (one generated day, its access-log lines repeated until
there are enough, each copy's clients moved to other networks so that a copy is other visitors);
they are written once under .cache/bench/ and reused while the arguments stay the same. Prints a
table per stage (seconds, lines/s, peak RSS of the whole process tree, the JVM included) and, as
the last line, one JSON object. A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import time
from pathlib import Path

from measure import PeakRss

REPO = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 11, 28)

# The yardstick's pattern: Combined/Common, what the generator writes. RE2 (DuckDB) has no
# look-behind, so this is the plain form of jobs/logformats.CLF_PATTERN.
DUCKDB_PATTERN = (
    r'^(\S+) \S+ (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\S+) (\S+)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?.*$'
)


def as_other_visitors(line: str, copy: int) -> str:
    """The line with its IPv4 client moved to another /16 for each copy of the day: a copy is
    other visitors doing the same, as on a day with that many more visitors. Repeated as they
    were, 2M lines held the base day's 19,358 networks and its visitors, so every per-visitor or
    per-address aggregation shrank as it never does on a real day of 2M lines. The second octet
    wraps: copy 256 is copy 0's visitors again (2M lines take 16 copies of the default day)."""
    if copy == 0:
        return line
    first, dot, rest = line.partition(".")
    second, dot2, rest2 = rest.partition(".")
    if not (dot and dot2 and first.isdigit() and second.isdigit()):
        return line
    return f"{first}.{(int(second) + copy) % 256}.{rest2}"


def make_input(lines: int, files: int, visitors: int) -> list[Path]:
    out = REPO / ".cache" / "bench" / f"weblogs-{lines}-{files}-copies-apart"
    paths = [out / f"access-{i:02d}.log.gz" for i in range(files)]
    if all(p.exists() for p in paths):
        return paths
    from clicklake.generator import generate

    base_dir = REPO / ".cache" / "bench" / f"generated-{visitors}"
    if not (base_dir / "weblogs").exists():
        generate(DAY, str(base_dir), visitors=visitors, seed=7)
    base = []
    for path in sorted((base_dir / "weblogs").rglob("*.log.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            base.extend(line.rstrip("\n") for line in f)
    out.mkdir(parents=True, exist_ok=True)
    per_file = -(-lines // files)
    written = 0
    for path in paths:
        n = min(per_file, lines - written)
        with gzip.open(path.with_suffix(".tmp"), "wt", encoding="utf-8", compresslevel=1) as f:
            for i in range(written, written + n):
                f.write(as_other_visitors(base[i % len(base)], i // len(base)) + "\n")
        path.with_suffix(".tmp").rename(path)
        written += n
    return paths


def spark_stage(spark, paths, classify_too: bool) -> int:
    """What the pipeline does with these lines, as it does it: bronze's read (whole files, line
    numbers), then silver's dealing of the rows over the tasks, detection, parse and (optionally)
    classification, with each shared intermediate frame computed once (local checkpoints, as
    clicklake.pipeline.Batches does)."""
    from pyspark.sql import functions as F

    from clicklake.jobs import bronze, classify, silver, weblogs
    from clicklake.spark import local_checkpoint

    def materialize(df, what=None):
        return local_checkpoint(df)

    lines, formats = silver.dealt_lines_and_formats(
        spark, bronze.read_weblog_files(spark, tuple(str(p) for p in paths), DAY), materialize)
    if classify_too:
        out = weblogs.weblog_silver(lines, classify.user_agent_dimension, "www.example.com", "bench-key", 3,
                                    materialize, formats)["hits"]
    else:
        out = materialize(weblogs.parse_lines(lines, formats))
    # A hash of every column: a plain count would let Spark prune the work away.
    return out.agg(F.count(F.lit(1)).alias("n"), F.sum(F.xxhash64(*out.columns) % 1000).alias("h")).first()["n"]


def duckdb_stage(paths) -> int:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    con.execute("SET enable_progress_bar = false")
    files = ", ".join(f"'{p}'" for p in paths)
    query = f"""
        WITH lines AS (
            SELECT line FROM read_csv([{files}], columns = {{'line': 'VARCHAR'}}, delim = E'\\x01', quote = '',
                                      escape = '', header = false, auto_detect = false, compression = 'gzip')
        ), f AS MATERIALIZED (  -- one regex pass per line, not one per field read below
            SELECT regexp_extract(line, $pattern, ['client', 'user', 'time', 'request', 'status', 'bytes', 'referrer', 'agent']) AS m
            FROM lines
        ), typed AS (
            SELECT m.client, try_strptime(m.time, '%d/%b/%Y:%H:%M:%S %z') AS ts,
                   split_part(m.request, ' ', 1) AS method, split_part(split_part(m.request, ' ', 2), '?', 1) AS path,
                   TRY_CAST(m.status AS INTEGER) AS status, TRY_CAST(nullif(m.bytes, '-') AS BIGINT) AS bytes,
                   m.referrer, m.agent
            FROM f
        )
        SELECT count(*), sum(hash(client, ts, method, path, status, bytes, referrer, agent, resource_type, is_bot) % 1000)
        FROM (
            SELECT *,
                   CASE WHEN regexp_matches(lower(path), '\\.(css|js|png|jpe?g|gif|svg|ico|woff2?)$') THEN 'asset' ELSE 'page' END AS resource_type,
                   regexp_matches(lower(agent), 'bot|crawl|spider|curl|wget|python|headless') AS is_bot
            FROM typed WHERE ts IS NOT NULL AND status BETWEEN 100 AND 599
        ) AS classified  -- the hash reads every column, so DuckDB cannot prune the parse away
    """
    return con.execute(query, {"pattern": DUCKDB_PATTERN}).fetchone()[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--visitors", type=int, default=20_000, help="visitors of the generated day the lines repeat")
    args = ap.parse_args()

    t = time.perf_counter()
    paths = make_input(args.lines, args.files, args.visitors)
    print(f"input: {args.lines:,} lines in {len(paths)} gzip files under {paths[0].parent} ({time.perf_counter() - t:.1f} s to prepare)")

    results = []

    def stage(name, fn):
        with PeakRss() as rss:
            start = time.perf_counter()
            rows = fn()
            seconds = time.perf_counter() - start
        results.append({"stage": name, "s": round(seconds, 2), "lines_per_s": round(args.lines / seconds) if rows else None,
                        "rows": rows, "peak_rss_mb": round(rss.peak / 2**20)})

    stage("duckdb parse (yardstick)", lambda: duckdb_stage(paths))
    from clicklake.spark import get_spark

    spark = None

    def start_spark():
        nonlocal spark
        from clicklake.spark import tune_for_input

        spark = get_spark("clicklake bench")
        tune_for_input(spark, sum(p.stat().st_size for p in paths))  # as `clicklake run` does for the day's files
        return 0

    stage("spark session start", start_spark)
    stage("spark read + parse (first run, warms the JVM)", lambda: spark_stage(spark, paths, classify_too=False))
    stage("spark read + parse", lambda: spark_stage(spark, paths, classify_too=False))
    # Classification's code is compiled in its own first run (the parse's warm-up does not reach
    # it): in two invocations its first run took 45.5 and 52.5 s, the next 39.2 and 37.7 s (2026-12-02).
    stage("spark read + parse + classify (first run)", lambda: spark_stage(spark, paths, classify_too=True))
    stage("spark read + parse + classify", lambda: spark_stage(spark, paths, classify_too=True))
    spark.stop()

    print(f"\n{'stage':48s} {'seconds':>8s} {'lines/s':>10s} {'rows out':>10s} {'peak RSS MB':>12s}")
    for r in results:
        speed = f"{r['lines_per_s']:10,d}" if r["lines_per_s"] else f"{'-':>10s}"
        print(f"{r['stage']:48s} {r['s']:8.1f} {speed} {r['rows']:10,d} {r['peak_rss_mb']:12,d}")
    by = {r["stage"]: r for r in results}
    summary = {
        "lines": args.lines,
        "files": len(paths),
        "spark_parse_lines_per_s": by["spark read + parse"]["lines_per_s"],
        "spark_parse_classify_lines_per_s": by["spark read + parse + classify"]["lines_per_s"],
        "duckdb_parse_lines_per_s": by["duckdb parse (yardstick)"]["lines_per_s"],
        "ratio_vs_duckdb": round(by["spark read + parse + classify"]["s"] / by["duckdb parse (yardstick)"]["s"], 2),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "cores": os.cpu_count(),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
