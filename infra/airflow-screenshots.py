"""The README's Airflow screenshots, taken from the real UI by a headless Chromium, and a measured
3-day backfill created through the REST API the UI's "Run Backfill" button uses.

    make screenshots        # embedded S3 server, Airflow standalone, Chromium (apt: chromium)

It generates three small days into their own prefixes of the embedded S3 server (not the demo's),
starts Airflow standalone with its own AIRFLOW_HOME (.data/airflow-screenshots), logs in as admin,
and saves to docs/images/: the DAG, the trigger dialog for one date, the same dialog set to
backfill the range, and the DAG's runs once the backfill finished. It prints how long the backfill
took, stops Airflow, then runs the same three dates one by one in this process on a local copy of
the landing files and checks that the gold tables are equal to the ones the backfill published.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from clicklake import airflow_local  # noqa: E402
from clicklake.config import S3Settings  # noqa: E402
from clicklake.generator import generate  # noqa: E402

# Days whose data interval has ended (Airflow does not backfill a day that is not over yet).
FIRST = dt.date(2026, 11, 27)
DAYS = [FIRST + dt.timedelta(days=k) for k in range(3)]
VISITORS = 100
UI = "http://127.0.0.1:8080"
IMAGES = REPO / "docs" / "images"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    # Stopped with TERM (or INT, which a background job ignores), it still stops Airflow.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    base = dict(os.environ)
    s3 = S3Settings.from_env()
    bucket = base["CLICKLAKE_RAW"].split("/")[2]
    base["CLICKLAKE_RAW"] = f"s3://{bucket}/screenshots/raw"
    base["CLICKLAKE_LAKE"] = f"s3://{bucket}/screenshots/lake"
    if argv == ["--check-only"]:  # the comparison alone, after an earlier backfill
        return 0 if equal_to_single_runs(base, s3) else 1
    home = REPO / ".data" / "airflow-screenshots"
    env = airflow_local.airflow_env(home, REPO / "dags", base=base)
    env.update({"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True", "CLICKLAKE_DAG_RETRIES": "0"})
    for day in DAYS:
        generate(day, base["CLICKLAKE_RAW"], visitors=VISITORS, seed=42, s3=s3)
    shutil.rmtree(home, ignore_errors=True)  # its own metadata: every run starts with no DAG runs
    airflow_local.migrate(env)
    IMAGES.mkdir(parents=True, exist_ok=True)
    airflow = airflow_local.Standalone(env, home / "standalone.log")
    try:
        airflow.login()
        airflow_local.wait_until(lambda: airflow.api(f"/api/v2/dags/{airflow_local.DAG_ID}"), 180, "the DAG being parsed")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(UI)
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", airflow.password)
            page.keyboard.press("Enter")
            page.wait_for_load_state("networkidle")
            page.goto(f"{UI}/dags/{airflow_local.DAG_ID}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(IMAGES / "airflow-dag.png"))
            # The dialog posts to /api/v2/backfills and unpauses the DAG ("Unpause on trigger").
            # Unpaused, catchup also starts a scheduled run for the DAG's start date, which waits
            # for landing files that never come here; backfill runs are counted apart from it.
            started = time.monotonic()
            run_backfill_from_the_dialog(page)
            backfills = airflow.api(f"/api/v2/backfills?dag_id={airflow_local.DAG_ID}")["backfills"]
            print(f"backfill {backfills[-1]['id']} created from the UI for {DAYS[0]}..{DAYS[-1]}", flush=True)
            finished = airflow_local.wait_until(lambda: airflow_local.finished_backfill_runs(airflow, len(DAYS)), 3600,
                                                "the backfill's runs finishing", every_s=10)
            took = time.monotonic() - started
            print(f"backfill runs finished in {took:.0f} s: " + ", ".join(f"{r['logical_date'][:10]} {r['state']}" for r in finished), flush=True)
            page.goto(f"{UI}/dags/{airflow_local.DAG_ID}/runs")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(IMAGES / "airflow-backfill-runs.png"))
            browser.close()
    finally:
        airflow.stop()
    if not all(r["state"] == "success" for r in finished):
        return 1
    return 0 if equal_to_single_runs(base, s3) else 1


def equal_to_single_runs(base: dict[str, str], s3: S3Settings) -> bool:
    """The backfill's gold tables against single in-process runs of the same dates, in order, on
    the same landing files (log hit ids derive from the file's URI) into a lake of their own."""
    from clicklake import lake, pipeline
    from clicklake.config import Settings
    from clicklake.jobs.gold import TABLES
    from clicklake.spark import get_spark

    # Its own driver, not the Connect server the backfill's tasks used: an independent check.
    spark = get_spark("backfill check", s3, own_driver=True)
    single = Settings(raw=base["CLICKLAKE_RAW"], lake=base["CLICKLAKE_LAKE"].replace("/lake", "/single-runs-lake"),
                      visitor_hash_key=base["CLICKLAKE_VISITOR_HASH_KEY"], s3=s3)
    for day in DAYS:
        pipeline.run(spark, single, day)
    same = True
    for name in TABLES:
        rows = [sorted(tuple(r) for r in lake.read_published(spark, name, where).collect()) for where in (base["CLICKLAKE_LAKE"], single.lake)]
        print(f"{name}: {len(rows[0])} rows from the backfill, {'equal to' if rows[0] == rows[1] else 'DIFFERENT from'} single runs", flush=True)
        same &= rows[0] == rows[1]
    return same


def set_datetime(page, index: int, day: dt.date) -> None:
    """The UI's date-time fields are popovers with a date and a time box."""
    page.get_by_test_id("datetime-input").nth(index).click()
    popover = page.locator("[data-scope=popover][data-part=content][data-state=open]").last
    popover.get_by_placeholder("YYYY/MM/DD").fill(day.strftime("%Y/%m/%d"))
    popover.get_by_placeholder("HH:mm").fill("00:00")
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)


def run_backfill_from_the_dialog(page) -> None:
    """The trigger dialog for one date, then switched to a backfill of the range, which is run."""
    page.get_by_role("button", name="Trigger").first.click()
    page.wait_for_timeout(1500)
    set_datetime(page, 0, DAYS[0])
    page.screenshot(path=str(IMAGES / "airflow-trigger-run.png"))
    page.get_by_text("Backfill", exact=True).first.click()
    page.wait_for_timeout(1000)
    set_datetime(page, 0, DAYS[0])
    set_datetime(page, 1, DAYS[-1])
    page.get_by_text(f"{len(DAYS)} runs will be triggered.").wait_for(timeout=30_000)
    page.screenshot(path=str(IMAGES / "airflow-trigger-backfill.png"))
    page.get_by_role("button", name="Run Backfill").click()
    page.get_by_text("Backfill generated").wait_for(timeout=30_000)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
