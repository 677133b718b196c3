"""The lakes the integration tests share: one generated landing zone of three days, one lake that
ran them in order as the nightly schedule does, and one that ran them out of order as backfills
do (each full pipeline run costs tens of seconds, so the modules reuse them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lakes import CONVERGING, OUT_OF_ORDER, RUN_DATES, SEED, VISITORS, make_settings, snapshot

from clicklake import pipeline
from clicklake.config import Settings
from clicklake.generator import generate


@pytest.fixture(scope="session")
def landing(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    for day in RUN_DATES:  # one population: visitors return on the following days
        generate(day, str(raw), visitors=VISITORS, seed=SEED)
    return raw


@pytest.fixture(scope="session")
def first_night(spark, landing, tmp_path_factory) -> Path:
    """A lake where only D ran: the in-order and out-of-order lakes both start as copies of it
    (the first run of a session is its slowest: the JVM is cold)."""
    lake_dir = tmp_path_factory.mktemp("lake-first-night")
    pipeline.run(spark, make_settings(landing, lake_dir), OUT_OF_ORDER[0])
    return lake_dir


def lake_after_first_night(first_night: Path, lake_dir: Path, landing: Path) -> Settings:
    shutil.copytree(first_night, lake_dir, dirs_exist_ok=True)
    return make_settings(landing, lake_dir)


@pytest.fixture(scope="session")
def in_order(spark, landing, first_night, tmp_path_factory) -> Settings:
    """A lake where D, D+1 and D+2 ran one after the other."""
    settings = lake_after_first_night(first_night, tmp_path_factory.mktemp("lake-in-order"), landing)
    for day in RUN_DATES[1:]:
        pipeline.run(spark, settings, day)
    return settings


@pytest.fixture(scope="session")
def out_of_order_lake(spark, landing, first_night, tmp_path_factory) -> Settings:
    """A lake where the same dates ran out of order (D, D+2, D+1): D+2 before the day
    before it, D+1 backfilled last, between published neighbours. Tests may change it once
    `out_of_order` has read it."""
    settings = lake_after_first_night(first_night, tmp_path_factory.mktemp("lake-out-of-order"), landing)
    for day in OUT_OF_ORDER[1:]:
        pipeline.run(spark, settings, day)
    return settings


@pytest.fixture(scope="session")
def out_of_order(spark, out_of_order_lake) -> dict:
    """What silver.hits and the gold tables held after the out-of-order runs."""
    return snapshot(spark, out_of_order_lake, CONVERGING)
