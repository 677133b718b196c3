"""Dates and settings of the integration tests' shared lakes (fixtures in conftest.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from clicklake.config import Settings

D = dt.date(2026, 11, 28)
D1 = D + dt.timedelta(days=1)
VISITORS = 150
GOLD = ("gold.sessions", "gold.page_views", "gold.daily_kpis")


def make_settings(raw: Path, lake_dir: Path) -> Settings:
    return Settings(raw=str(raw), lake=str(lake_dir), visitor_hash_key="test-visitor-key")
