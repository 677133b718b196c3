"""The lakes the integration tests share: one generated landing zone and one lake with D and D+1
run in order (each full pipeline run costs tens of seconds, so the modules reuse them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lakes import D, D1, VISITORS, make_settings

from clicklake import pipeline
from clicklake.config import Settings
from clicklake.generator import generate


@pytest.fixture(scope="session")
def landing(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    # seed 2 with 150 visitors holds sessions across midnight, which the tests need
    generate(D, str(raw), visitors=VISITORS, seed=2)
    return raw


@pytest.fixture(scope="session")
def in_order(spark, landing, tmp_path_factory) -> Settings:
    settings = make_settings(landing, tmp_path_factory.mktemp("lake_in_order"))
    for day in (D, D1):
        pipeline.run(spark, settings, day)
    return settings
