"""Dates, settings and helpers of the integration tests' shared lakes (fixtures in conftest.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from clicklake import lake
from clicklake.config import Settings
from clicklake.jobs.gold import TABLES as GOLD

D = dt.date(2026, 11, 28)
D1 = D + dt.timedelta(days=1)
VISITORS = 150
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
