"""`clicklake demo`: the whole product on this machine, from a checkout.

Starts the embedded S3 server (unless one runs), generates a day of traffic into the landing
zone, runs the Airflow DAG for that day (`airflow dags test`), prints a summary and the commands
to look further, and stops what it started. Running it again gives the same tables.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from clicklake import airflow_local, storage
from clicklake.config import ConfigError, Settings, repo_root

INTERESTING = re.compile(r"(bronze|silver|gold): (wrote|gate)|published |\[(FAIL|warn)\]|Marking task|state=|Traceback|Error|clicklake: ")


def echo_interesting(line: str, width: int = 220) -> None:
    """Print a DAG log line worth seeing from where it gets interesting (past Airflow's prefix)."""
    found = INTERESTING.search(line)
    if found:
        text = line[found.start():]
        print("  " + (text if len(text) <= width else text[: width - 4] + " ..."))


def load_env_file(path: Path) -> None:
    """KEY=VALUE lines into os.environ; values already set in the environment win."""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            os.environ.setdefault(key.strip(), value.strip())


def s3_local(root: Path, action: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(root / "infra" / "s3-local"), action], capture_output=True, text=True)


def summary(settings: Settings, day) -> str:
    from pyspark.sql import functions as F

    from clicklake import lake, pipeline
    from clicklake.spark import get_spark
    from clicklake.tables import all_tables

    spark = get_spark("clicklake demo summary", settings.s3)
    lines = ["", "Tables (published rows):"]
    for name in sorted(all_tables()):
        df = lake.read_published(spark, name, settings.lake)
        count = "-" if df is None else f"{df.count():,}"
        lines.append(f"  {name:<28} {count:>10}   {all_tables()[name].path(settings.lake)}")
    results = lake.read_published(spark, pipeline.RESULTS, settings.lake)
    if results is not None:
        lines += ["", f"Quality gates of {day} (quality.validation_results; Data Docs per layer):"]
        verdicts = results.where(F.col("run_date") == lake.lit_date(day)).groupBy("layer").agg(
            F.count_if("success").alias("passed"), F.count(F.lit(1)).alias("checks"),
            F.count_if(~F.col("success") & (F.col("severity") == "warn")).alias("warnings"))
        for row in sorted(verdicts.collect(), key=lambda r: pipeline.LAYERS.index(r["layer"])):
            lines.append(f"  {row['layer']:<7} {row['passed']}/{row['checks']} checks passed, {row['warnings']} warning(s)   "
                         f"{pipeline.docs_location(settings, row['layer'], day)}/index.html")
    kpis = lake.read_published(spark, "gold.daily_kpis", settings.lake)
    if kpis is not None:
        for row in kpis.where(F.col("date") == lake.lit_date(day)).collect():
            lines += [
                "",
                f"KPIs of {day} for {row['site']}:",
                f"  visitors {row['visitors']:,} ({row['new_visitors']:,} new)   sessions {row['sessions']:,}   pageviews {row['pageviews']:,}",
                f"  bounce rate {row['bounce_rate']:.1%}   avg session {row['avg_session_duration_s']:.0f} s   pages/session {row['pages_per_session']:.2f}",
                f"  bot share of requests {row['bot_share']:.1%}   quarantined {row['quarantine_share']:.3%}   tag match rate {row['tag_match_rate']:.1%}",
            ]
    views = lake.read_published(spark, "gold.page_views", settings.lake)
    if views is not None:
        engaged = views.where((F.col("session_date") == lake.lit_date(day)) & F.col("engaged_time_s").isNotNull()).agg(
            F.count(F.lit(1)).alias("n"), F.avg("engaged_time_s").alias("avg")).first()
        if engaged["n"]:
            lines.append(f"  engaged time: {engaged['n']:,} page views measured by the tag, {engaged['avg']:.0f} s on average")
    sessions = lake.read_published(spark, "gold.sessions", settings.lake)
    if sessions is not None:
        channels = sessions.where(F.col("session_date") == lake.lit_date(day)).groupBy("channel").count().orderBy(F.desc("count")).collect()
        lines += ["", "Sessions by channel: " + ", ".join(f"{r['channel']} {r['count']:,}" for r in channels)]
    funnels = lake.read_published(spark, "gold.funnels", settings.lake)
    if funnels is not None:
        for name in [r["funnel"] for r in funnels.select("funnel").distinct().orderBy("funnel").collect()]:
            steps = (funnels.where((F.col("date") == lake.lit_date(day)) & (F.col("funnel") == name))
                     .groupBy("step", "step_name").agg(F.sum("sessions").alias("n")).orderBy("step").collect())
            lines.append(f"Funnel {name}: " + " -> ".join(f"{r['step_name']} {r['n']:,}" for r in steps))
    spark.stop()
    return "\n".join(lines)


def run_demo(day, visitors: int, seed: int, keep_running: bool = False) -> int:
    root = repo_root()
    if root is None:
        raise ConfigError("`clicklake demo` runs from a checkout of clicklake (it uses infra/ and dags/)")
    load_env_file(root / "infra" / "embedded.env")
    settings = Settings.from_env()
    started_at = time.monotonic()

    already_running = s3_local(root, "status").returncode == 0
    started = s3_local(root, "start")
    print(started.stdout.strip() or started.stderr.strip())
    if started.returncode != 0:
        return started.returncode
    try:
        storage.ensure_bucket(settings.raw)
        print(f"generate: one day ({day}) of traffic for {visitors:,} visitors into {settings.raw} ...")
        from clicklake.generator import generate

        facts = generate(day, settings.raw, visitors=visitors, seed=seed)
        print(f"generate: {facts['log_lines']:,} access-log lines, {facts['event_lines']:,} tag events, truth: {facts['sessions']:,} sessions")

        data = root / ".data"
        env = airflow_local.airflow_env(data / "airflow", root / "dags")
        print("airflow: preparing metadata (SQLite in .data/airflow) ...")
        airflow_local.migrate(env)
        log_path = data / "demo" / f"dags-test-{day}.log"
        print(f"airflow: dags test {airflow_local.DAG_ID} {day} (full log: {log_path})")
        code = airflow_local.dags_test(day, env, log_path, echo=echo_interesting)
        if code != 0:
            print(f"\nThe DAG run failed (exit {code}); the failing task's log is in {log_path}.")
            return code
        print(summary(settings, day))
        print(
            f"""
Done in {time.monotonic() - started_at:.0f} s. The lake lives in {settings.lake} on the embedded S3 server
({os.environ['AWS_ENDPOINT_URL_S3']}, data in .data/s3).

Query it (the S3 server must run: `make s3-start`, later `make s3-stop`):
  make sql Q="SELECT channel, count(*) AS sessions FROM gold.sessions WHERE session_date = DATE'{day}' GROUP BY channel ORDER BY 2 DESC"
  make sql Q="SELECT * FROM gold.daily_kpis ORDER BY date"
Open the Airflow UI (http://127.0.0.1:8080, user admin, password printed at start):
  make airflow
Run another date by hand:
  set -a && . infra/embedded.env && set +a && .venv/bin/clicklake generate --date {day} --out {settings.raw} && .venv/bin/clicklake run --date {day}"""
        )
        return 0
    finally:
        if not keep_running and not already_running:
            print(s3_local(root, "stop").stdout.strip())
