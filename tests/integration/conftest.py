"""The lakes the integration tests share: one generated landing zone and one lake holding D and
D+1 (each full pipeline run costs tens of seconds, so the modules reuse them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lakes import CONVERGING, D, D1, VISITORS, make_settings, snapshot

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
def out_of_order(spark, landing, tmp_path_factory) -> tuple[Settings, dict]:
    """A lake where D+1 ran before D (a backfill of D after the fact), and what its silver.hits
    and gold tables held then."""
    settings = make_settings(landing, tmp_path_factory.mktemp("lake"))
    for day in (D1, D):
        pipeline.run(spark, settings, day)
    return settings, snapshot(spark, settings, CONVERGING)


@pytest.fixture(scope="session")
def both_days(spark, out_of_order) -> Settings:
    """The same lake after D+1 ran again, now after D as the nightly schedule runs them. Its bronze
    layer is not run again: the same landing files give the same rows (bronze reruns are tested
    by test_a_rerun_after_the_rejected_batches_publishes_identical_tables)."""
    settings, _ = out_of_order
    pipeline.run(spark, settings, D1, layers=("silver", "gold"))
    return settings
