"""Shared fixtures: one SparkSession for the whole run, settings on temporary folders, and the
path of the shared real-data samples (skipped with a reason where a clone has none)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import pytest

from clicklake.config import Settings

REPO = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("CLICKLAKE_REALDATA", REPO.parent / "shared" / "realdata"))
VISITOR_KEY = "test-visitor-key"

os.environ.setdefault("CLICKLAKE_VISITOR_HASH_KEY", VISITOR_KEY)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def spark():
    from clicklake.spark import get_spark, tune_for_input

    logging.getLogger("py4j").setLevel(logging.WARNING)
    # Its own driver even where CLICKLAKE_SPARK_REMOTE is exported: the tests need a JVM here.
    session = get_spark("clicklake tests", own_driver=True)
    # The tests' frames are tiny, as a small day is: compiling code for them costs more than it saves.
    tune_for_input(session, 0)
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(raw=str(tmp_path / "raw"), lake=str(tmp_path / "lake"), visitor_hash_key=VISITOR_KEY)


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real sample logs not present at {REALDATA} (they live in the project's shared/ folder, not in a clone)")
    return REALDATA


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
