"""Write-audit-publish under bad batches: each kind of bad day is stopped by the gate that owns it,
with the failed expectation named, and the published tables keep their Delta versions; a good
run afterwards publishes normally. Runs on the shared lake that ran D to D+2 in order."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import shutil
from pathlib import Path

import pytest
from lakes import D
from pyspark.sql import functions as F

from clicklake import cli, lake, pipeline
from clicklake.gates import GateFailed, NotValidated
from clicklake.tables import all_tables

PUBLISHED = sorted(name for name in all_tables() if not name.startswith("quality."))


def versions(spark, settings) -> dict[str, int | None]:
    return {name: lake.delta_version(spark, name, settings.lake) for name in PUBLISHED}


def copy_landing_day(landing: Path, target: Path) -> Path:
    for kind in ("weblogs", "events"):
        shutil.copytree(landing / kind / f"dt={D}", target / kind / f"dt={D}")
    return target


def rewrite_gzip(path: Path, change) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(change(lines)) + "\n").encode()))


def stage_spoiled(spark, settings, layer: str, name: str, spoil) -> None:
    """Hold the layer's published rows of D as a run's staged batches, as a good write of D in a
    run of every step would hold them in memory (without recomputing the layer), with
    `spoil(rows)` in place of table `name`."""
    ranges = pipeline.layer_job(layer).write_ranges(D, settings)
    for table_name in pipeline.layer_tables(layer):
        rows = lake.read_published_range(spark, table_name, settings.lake, *ranges[table_name])
        if table_name == name:
            rows = spoil(rows)
        rows = rows.localCheckpoint()
        lake.keep_staged(rows, table_name, settings.lake, D, rows.count())


def results_of(spark, settings, layer: str) -> list:
    rows = lake.read_published(spark, pipeline.RESULTS, settings.lake).where(
        (F.col("run_date") == lake.lit_date(D)) & (F.col("layer") == layer)).collect()
    return rows


def test_negative_durations_forced_into_staging_fail_the_gold_gate_and_cannot_be_published(spark, in_order):
    before = versions(spark, in_order)
    stage_spoiled(spark, in_order, "gold", "gold.sessions", lambda sessions: sessions.withColumn(
        "duration_s", F.when(F.col("pageviews") > 1, F.lit(-5.0)).otherwise(F.col("duration_s"))))

    with pytest.raises(GateFailed) as failed:
        pipeline.audit(spark, in_order, "gold", D)
    message = str(failed.value)
    assert "quality gate of gold failed" in message
    assert "[FAIL] gold.sessions: expect_column_values_to_be_between(column=duration_s, min_value=0.0, max_value=86400.0)" in message
    assert "e.g. [-5.0" in message
    stored = [r for r in results_of(spark, in_order, "gold") if r["expectation"] == "expect_column_values_to_be_between"
              and "duration_s" in r["arguments"]]
    assert len(stored) == 1 and not stored[0]["success"] and stored[0]["severity"] == "fail"
    with pytest.raises(NotValidated, match="gold.page_views"):
        pipeline.publish(spark, in_order, ("gold",), D)
    assert versions(spark, in_order) == before


def test_a_staged_table_that_lost_a_column_fails_the_schema_check(spark, in_order):
    before = versions(spark, in_order)
    stage_spoiled(spark, in_order, "gold", "gold.sessions", lambda sessions: sessions.drop("channel"))

    with pytest.raises(GateFailed) as failed:
        pipeline.audit(spark, in_order, "gold", D)
    message = str(failed.value)
    assert "[FAIL] gold.sessions: columns_match_schema(schemas/gold.sessions.json) observed missing ['channel']" in message
    assert "[FAIL] quality.reconciliation" in message  # not run on a malformed batch, so not passed
    with pytest.raises(NotValidated):
        pipeline.publish(spark, in_order, ("gold",), D)
    assert versions(spark, in_order) == before


def test_silver_rows_lost_between_layers_fail_the_reconciliation(spark, in_order):
    before = versions(spark, in_order)
    victim = lake.read_published_range(spark, "silver.weblog_hits", in_order.lake, D, D).select("source_file").first()["source_file"]
    stage_spoiled(spark, in_order, "silver", "silver.weblog_hits",
                  lambda hits: hits.where(~((F.col("source_file") == victim) & (F.col("line_number") <= 3))))

    with pytest.raises(GateFailed) as failed:
        pipeline.audit(spark, in_order, "silver", D)
    message = str(failed.value)
    assert "[FAIL] quality.reconciliation: expect_column_pair_values_to_be_equal(column_A=expected, column_B=observed)" in message
    assert f"bronze lines = silver rows + duplicates + quarantined + skipped [{victim}]" in message
    assert versions(spark, in_order) == before


def test_a_day_of_mostly_garbage_lines_stops_at_the_silver_gate(spark, in_order, landing, tmp_path):
    raw = copy_landing_day(landing, tmp_path / "raw")
    for path in (raw / "weblogs").rglob("*.gz"):
        rewrite_gzip(path, lambda lines: lines + [f"garbage {i} ###" for i in range(len(lines) * 3 // 2)])
    before = versions(spark, in_order)

    with pytest.raises(GateFailed) as failed:
        pipeline.run(spark, dataclasses.replace(in_order, raw=str(raw)), D)
    message = str(failed.value)
    assert "quality gate of silver failed" in message
    assert "[FAIL] silver.file_audit: expect_column_values_to_be_between(column=quarantine_share, row_condition=lines >= 100, min_value=0.0, max_value=0.2)" in message
    assert versions(spark, in_order) == before
    # The run held its batches in memory; the failed gate stored them as staged tables and the
    # verdicts name their versions, so the steps can be rerun one by one from another process.
    lake.forget_staged()
    pipeline.forget_known_verdicts()
    staged = {n: lake.read_staged(spark, n, in_order.lake, D) for n in pipeline.layer_tables("bronze") + pipeline.layer_tables("silver")}
    assert all(s is not None and s.version is not None for s in staged.values()), staged
    passed = pipeline.passed_versions(spark, in_order, D)
    assert {n: passed.get(n) for n in pipeline.layer_tables("bronze")} == {n: staged[n].version for n in pipeline.layer_tables("bronze")}
    assert not any(n in passed for n in pipeline.layer_tables("silver")), "silver's gate failed"


def test_a_duplicated_input_file_stops_at_the_bronze_gate(spark, in_order, landing, tmp_path, capsys):
    raw = copy_landing_day(landing, tmp_path / "raw")
    original = sorted((raw / "weblogs").rglob("*.gz"))[0]
    shutil.copy(original, original.with_name("redelivered-" + original.name))
    before = versions(spark, in_order)

    code = cli.main(["run", "--date", str(D), "--raw", str(raw), "--lake", in_order.lake])
    message = capsys.readouterr().err
    assert code == cli.EXIT_GATE, message
    assert "quality gate of bronze failed" in message
    assert "[FAIL] bronze.landing_files: expect_column_values_to_be_unique(column=fingerprint) observed 2 unexpected" in message
    assert versions(spark, in_order) == before


def test_a_day_with_half_the_usual_volume_stops_at_the_bronze_gate(spark, in_order, landing, tmp_path):
    # History: three earlier delivery days as large as D (D's own file rows, re-dated).
    files = lake.read_published_range(spark, "bronze.landing_files", in_order.lake, D, D)
    history_start, history_end = D - dt.timedelta(days=3), D - dt.timedelta(days=1)
    history = None
    for back in (1, 2, 3):
        day = files.withColumn("dt", F.date_sub("dt", back)).withColumn("source_file", F.concat("source_file", F.lit(f"#{back}")))
        history = day if history is None else history.unionByName(day)
    lake.publish(spark, history, "bronze.landing_files", in_order.lake, history_start, history_end)
    normal = {r["source"]: r["lines"] for r in files.groupBy("source").agg(F.sum("lines").alias("lines")).collect()}

    raw = copy_landing_day(landing, tmp_path / "raw")
    for path in (raw / "weblogs").rglob("*.gz"):
        rewrite_gzip(path, lambda lines: lines[: len(lines) * 2 // 5])
    before = versions(spark, in_order)
    try:
        with pytest.raises(GateFailed) as failed:
            pipeline.run(spark, dataclasses.replace(in_order, raw=str(raw)), D, layers=("bronze",))
        message = str(failed.value)
        floor = int(0.5 * normal["weblog"])
        assert f"[FAIL] bronze.weblog_lines: expect_table_row_count_to_be_between(min_value={floor})" in message
        assert "bronze.tag_events: expect_table_row_count_to_be_between" not in message, "the tag events came in full"
        assert versions(spark, in_order) == before
    finally:
        lake.publish(spark, files.limit(0), "bronze.landing_files", in_order.lake, history_start, history_end)


def test_a_rerun_after_the_rejected_batches_publishes_identical_tables(spark, in_order):
    """The later good run: the bad days above left staged batches (in this process and in the
    lake) and failed verdicts behind (a dropped column, negative durations, lost rows, garbage);
    a good rerun of D, its steps run apart as the DAG's tasks run them, overwrites them, passes
    every gate and publishes exactly what was published before (nothing counted twice), one
    commit per table, and clears the staging. Every batch counts as large here: the tables of
    one date are published as their staged files (delta-rs), the others by writing their rows
    (Spark), and the files keep the published tables' column statistics."""
    from deltalake import DeltaTable

    before = versions(spark, in_order)
    rows_before = {n: sorted(tuple(r) for r in lake.read_published(spark, n, in_order.lake).collect()) for n in PUBLISHED}
    by_files = dataclasses.replace(in_order, publish_files_from_rows=0)
    pipeline.run(spark, by_files, D, steps=("write", "audit"))
    pipeline.run(spark, by_files, D, steps=("publish",))
    after = versions(spark, in_order)
    assert all(after[n] == before[n] + 1 for n in PUBLISHED), (before, after)
    one_date = {name for layer in pipeline.LAYERS for name, (start, end) in pipeline.layer_job(layer).write_ranges(D, in_order).items()
                if start == end}
    assert {"bronze.tag_events", "silver.tag_events", "silver.weblog_hits"} <= one_date
    for name in PUBLISHED:
        last = DeltaTable(all_tables()[name].path(in_order.lake)).history(1)[0]
        writer = last.get("clientVersion") or last.get("engineInfo", "")
        assert ("delta-rs" if name in one_date else "Apache-Spark") in writer, (name, last)
    events = DeltaTable(all_tables()["silver.tag_events"].path(in_order.lake)).get_add_actions(flatten=True)
    assert "min.event_ts" in events.schema.names, "the published files keep the table's column statistics"
    assert all(lake.read_staged(spark, n, in_order.lake, D) is None for n in PUBLISHED), "publishing clears the staging"
    assert {n: sorted(tuple(r) for r in lake.read_published(spark, n, in_order.lake).collect()) for n in PUBLISHED} == rows_before
    verdicts = lake.read_published(spark, pipeline.RESULTS, in_order.lake).where(F.col("run_date") == lake.lit_date(D))
    assert verdicts.where("severity = 'fail' AND NOT success").count() == 0
    assert {r["layer"] for r in verdicts.select("layer").distinct().collect()} == {"bronze", "silver", "gold"}


def test_a_new_write_is_not_taken_for_the_batch_an_earlier_gate_passed(spark, in_order):
    """Publish drops the staging, so the next write of the date stages versions 0 again, the
    versions the last gate's verdicts name: that write must clear them, or the next layer would
    read its unchecked batch, and publish take it, as passed (a write rerun from the command line
    or the UI, then publish without the audit in between)."""
    # Whatever earlier tests left staged for D (a rejected batch stays staged), so that the first
    # write below stages versions 0 whichever tests ran before.
    lake.delete_tree(spark, lake.staging_root(in_order.lake, D))
    lake.forget_staged()
    pipeline.run(spark, in_order, D, layers=("bronze",), steps=("write", "audit"))
    pipeline.run(spark, in_order, D, layers=("bronze",), steps=("publish",))
    bronze = pipeline.layer_tables("bronze")
    assert {pipeline.passed_versions(spark, in_order, D)[n] for n in bronze} == {0}

    # Staged as computed, as a big day's are: the write's own counts ride in the commits.
    pipeline.write(spark, in_order, "bronze", D, stage_while_computing=True)
    lake.forget_staged()  # as another process (the next task) finds the staging
    pipeline.forget_known_verdicts()  # and the verdicts
    staged = {n: lake.read_staged(spark, n, in_order.lake, D) for n in bronze}
    assert {s.version for s in staged.values()} == {0}
    assert {n: staged[n].rows for n in bronze} == {
        n: lake.read_published_range(spark, n, in_order.lake, D, D).count() for n in bronze}
    assert not set(bronze) & set(pipeline.passed_versions(spark, in_order, D))
    before = versions(spark, in_order)
    with pytest.raises(NotValidated, match="staged version 0 has no passed gate"):
        pipeline.run(spark, in_order, D, layers=("bronze",), steps=("publish",))
    assert versions(spark, in_order) == before
    pipeline.run(spark, in_order, D, layers=("bronze",), steps=("audit", "publish"))  # as the DAG's tasks go on


def test_a_run_of_every_step_deletes_old_verdicts_before_it_stages_anything(spark, in_order, monkeypatch):
    """A run of every step holds its verdicts until its gates are reached; but a batch it cannot
    keep in memory is staged to storage, and before that the layer's old verdicts must be gone
    from the table, or a run killed right after staging would leave them naming its unchecked
    batch (versions 0 again once publish dropped the staging)."""
    lake.delete_tree(spark, lake.staging_root(in_order.lake, D))
    lake.forget_staged()
    pipeline.run(spark, in_order, D, layers=("bronze",))
    assert set(pipeline.layer_tables("bronze")) <= set(pipeline.passed_versions(spark, in_order, D)), "old verdicts to delete"
    stage, seen = lake.stage, {}

    def stage_noting_the_recorded_verdicts(df, name, *args, **kwargs):
        seen[name] = results_of(spark, in_order, "bronze")
        return stage(df, name, *args, **kwargs)

    monkeypatch.setattr(lake, "KEEP_STAGED_ROWS", 0)  # nothing fits in memory: every table is staged
    monkeypatch.setattr(lake, "stage", stage_noting_the_recorded_verdicts)
    pipeline.run(spark, in_order, D, layers=("bronze",))
    assert set(seen) == set(pipeline.layer_tables("bronze"))
    assert all(rows == [] for rows in seen.values()), {name: len(rows) for name, rows in seen.items()}
    assert {r["table_name"] for r in results_of(spark, in_order, "bronze") if r["success"]} >= set(pipeline.layer_tables("bronze"))
