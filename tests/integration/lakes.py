"""Dates, settings and helpers of the integration tests' shared lakes (fixtures in conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from clicklake import lake
from clicklake.config import Settings
from clicklake.jobs.gold import TABLES as GOLD

D = dt.date(2026, 11, 28)
D1 = D + dt.timedelta(days=1)
# The days whose truth the tests check: the first, and one with a published day before it. The
# generator also writes D+2, so that its run (a full night, which the volume gate expects) completes
# D+1's sessions across midnight and late events. (Each day more costs two pipeline runs, one per
# lake: about 70 s of the suite.)
DAYS = tuple(D + dt.timedelta(days=k) for k in range(2))
RUN_DATES = DAYS + (D + dt.timedelta(days=2),)
# A later day before an earlier one, which is then backfilled between published neighbours. Both
# orders start with D, so both lakes start from one run of it (conftest.first_night).
OUT_OF_ORDER = (D, RUN_DATES[2], D1)
assert OUT_OF_ORDER[0] == RUN_DATES[0] and sorted(OUT_OF_ORDER) == list(RUN_DATES)
VISITORS = 150
# Seed 1 with 150 visitors holds a session across each midnight of DAYS (checked by the tests).
SEED = 1
# The tables a run rewrites beyond its own date (late data, sessions across midnight).
CONVERGING = GOLD + ("silver.hits",)


def make_settings(raw: Path, lake_dir: Path) -> Settings:
    return Settings(raw=str(raw), lake=str(lake_dir), visitor_hash_key="test-visitor-key")


def snapshot(spark, settings: Settings, names) -> dict[str, list]:
    """Every published row of the tables, sorted: equal snapshots are equal tables."""
    out = {}
    for name in names:
        df = lake.read_published(spark, name, settings.lake)
        out[name] = sorted(tuple(r) for r in df.collect()) if df is not None else None
    return out


def truth(raw: Path, day: dt.date) -> tuple[list[dict], dict]:
    """The generator's sessions of `day` and its summary."""
    base = raw / "_truth" / f"dt={day}"
    sessions = [json.loads(line) for line in (base / "sessions.ndjson").read_text().splitlines() if line]
    return sessions, json.loads((base / "summary.json").read_text())


def summaries(raw: Path) -> list[dict]:
    """The summary of every generated day (a day's files also land in the next day's folder)."""
    return [truth(raw, day)[1] for day in RUN_DATES]
