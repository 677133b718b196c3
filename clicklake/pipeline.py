"""One run date through the layers as write-audit-publish, the order SPEC 7 gives:
bronze -> gate -> silver -> gate -> gold -> gate -> publish.

    write    compute the layer's tables for the date and store them as staged Delta tables
    audit    the gate: validate the staged tables (schema, the tables' suites, reconciliation
             across layers), record every check in quality.validation_results, build Data Docs;
             fail loudly, naming the expectations and observed values
    publish  replace the date ranges of the published tables with the staged rows, one Delta
             commit per table, only for staged versions whose gate passed

`clicklake run` calls these steps, all of them in one process by default; the Airflow DAG runs each
as its own task. A later layer's write reads the earlier layers' passed staged batches of the same
run (lake.LakeView), so nothing is published until every gate has passed.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from types import ModuleType

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clicklake import gates, lake, reconcile
from clicklake.config import Settings, spark_uri
from clicklake.spark import caller_line, is_remote, jobs_named, local_checkpoint
from clicklake.tables import conform, table

LAYERS = ("bronze", "silver", "gold")
STEPS = ("write", "audit", "publish")
RESULTS = "quality.validation_results"


def layer_job(layer: str) -> ModuleType:
    from clicklake.jobs import bronze, gold, silver

    return {"bronze": bronze, "silver": silver, "gold": gold}[layer]


def layer_tables(layer: str) -> tuple[str, ...]:
    return layer_job(layer).TABLES


def gate_params(day: dt.date, start: dt.date, end: dt.date, settings: Settings) -> dict:
    return {
        "run_date": day.isoformat(),
        "range_start": start.isoformat(),
        "range_end": end.isoformat(),
        "events_from": (day - dt.timedelta(days=settings.late_days)).isoformat(),
        "events_to": (day + dt.timedelta(days=1)).isoformat(),
        "max_quarantine_share": settings.gates.max_quarantine_share,
        "top_paths": settings.top_paths,
        # Freshness: a full day's delivery reaches into the day's last hours.
        "fresh_after": dt.datetime.combine(day, dt.time(18, 0)),
    }


def volume_floor(daily_lines: list[int], settings: Settings) -> int:
    """The fewest lines a day may have: a share of the trailing days' average, 0 without enough history."""
    if len(daily_lines) < settings.gates.volume_min_history_days:
        return 0
    return int(settings.gates.min_volume_ratio * sum(daily_lines) / len(daily_lines))


def trailing_daily_lines(spark, settings: Settings, day: dt.date) -> dict[str, list[int]]:
    """Per source, lines of each published delivery date before `day` (bronze.landing_files)."""
    start = day - dt.timedelta(days=settings.gates.volume_history_days)
    history = lake.read_published_range(spark, "bronze.landing_files", settings.lake, start, day - dt.timedelta(days=1))
    daily: dict[str, list[int]] = {}
    for r in history.groupBy("source", "dt").agg(F.sum("lines").alias("lines")).collect():
        daily.setdefault(r["source"], []).append(r["lines"])
    return daily


VOLUME_SOURCES = {"bronze.weblog_lines": "weblog", "bronze.tag_events": "tag_event"}


def layer_params(spark, settings: Settings, layer: str, day: dt.date) -> dict[str, dict]:
    """The parameters each suite of the layer is filled in with."""
    ranges = layer_job(layer).write_ranges(day, settings)
    params = {name: gate_params(day, *ranges[name], settings) for name in layer_tables(layer)}
    if layer == "bronze":
        daily = trailing_daily_lines(spark, settings, day)
        for name, source in VOLUME_SOURCES.items():
            params[name]["volume_floor"] = volume_floor(daily.get(source, []), settings)
    return params


def schema_check(name: str, df: DataFrame, version: int | None = None) -> gates.CheckResult:
    expected = [(f.name, f.dataType.simpleString()) for f in table(name).schema.fields]
    got = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
    missing = [n for n, _ in expected if n not in dict(got)]
    observed = f"missing {missing}" if missing else str([f"{n} {t}" for n, t in got])
    return gates.CheckResult(name, "columns_match_schema", f"schemas/{name}.json", "fail", got == expected, observed, version)


class Batches:
    """Materialized intermediate frames of one layer run, released together.

    A frame is materialized as a checkpoint: its rows, cut from their lineage, so that every
    later plan reading it stays small (planning the layers' long plans again and again cost more
    than computing a day of rows: silver's write took 33 s warm with cached frames, 23 s with
    checkpoints; on the test cluster silver took 80 s with persisted frames, 43 s with checkpoints).
    On a local master the rows stay with the driver's block manager (a local checkpoint, on its
    disk: clicklake.spark.local_checkpoint says why). On a cluster an executor can be lost, and the
    rows a local checkpoint kept there with it, so they are written to `checkpoint_dir` (the run's
    staging area in the lake), which release deletes."""

    def __init__(self, spark, checkpoint_dir: str, label: str, stage_output=None):
        self.spark = spark
        # (frame, table name) -> lake.Staged: stores a layer output as the run's staged table.
        self.stage_output = stage_output
        self.staged: dict[str, lake.Staged] = {}
        self.label = label  # names the jobs that materialize a frame (Spark UI, event log)
        self.local = spark.conf.get("spark.master").startswith("local")
        self.checkpoint_dir = None if self.local else checkpoint_dir
        if self.checkpoint_dir and is_remote(spark):
            raise RuntimeError("a Spark Connect server on a cluster master cannot take checkpoints into the lake "
                               "(a client cannot set the checkpoint folder): run the Connect server on a local master")
        if self.checkpoint_dir:
            spark.sparkContext.setCheckpointDir(spark_uri(self.checkpoint_dir))
        self.frames: list[DataFrame] = []
        # id of a materialized frame -> its row count, counted when first asked: only a layer's
        # outputs are, and counting every intermediate frame was a pass over its rows each (a
        # day of 10M records: ~60 s of task time in silver alone).
        self.rows: dict[int, int | None] = {}

    def materialize(self, df: DataFrame, what: str | None = None, output: str | None = None) -> DataFrame:
        """`what` names the frame in the job's description; by default the caller's line.

        `output`: the frame is that output table of the layer, conformed, and the job reads it
        again itself: with `stage_output` (a big day, see STAGE_WHILE_COMPUTING_FROM_BYTES) it is
        stored as the run's staged table now (computed in that write) and read back from there, not
        checkpointed and then written (lake.stage_computing says why)."""
        if output is not None and self.stage_output is not None:
            staged = self.stage_output(df, output)
            self.staged[output] = staged
            return staged.batch
        with jobs_named(self.spark, f"{self.label}: {what or caller_line()}"):
            # Computed once, now: every later consumer reads the kept rows.
            df = local_checkpoint(df) if self.local else df.checkpoint(eager=True)
            # Held until release: `rows` is keyed by id(), which a collected frame would free for reuse.
            self.frames.append(df)
            self.rows[id(df)] = None
        return df

    def holds(self, df: DataFrame) -> bool:
        return id(df) in self.rows

    def count(self, df: DataFrame) -> int:
        if id(df) not in self.rows:
            return df.count()
        if self.rows[id(df)] is None:
            with jobs_named(self.spark, f"{self.label}: count"):
                self.rows[id(df)] = df.count()
        return self.rows[id(df)]

    def release(self) -> None:
        """Let go of the frames; local checkpoints' rows go when nothing refers to them (the
        batches kept for the gate and publish still do, see lake._staged), a cluster's checkpoint
        files now (what this run staged was cut from them before it was written)."""
        self.frames.clear()
        self.rows.clear()
        if self.checkpoint_dir:
            lake.delete_tree(self.spark, self.checkpoint_dir)


# ---- the gate's verdicts ---------------------------------------------------------------------

# Verdicts this process read or recorded, by (lake, run date); record() keeps them current. Of
# each, what tells which staged batches passed.
_verdicts: dict[tuple[str, dt.date], list] = {}
KNOWN_VERDICT_FIELDS = ("layer", "table_name", "severity", "success", "staged_version")


def _verdict_rows(day: dt.date, by_layer: dict[str, list]) -> list[tuple]:
    """quality.validation_results rows of the layers' check results, in the table's column order."""
    return [(day, layer, r.table, r.expectation, r.arguments, r.severity, r.success, r.observed, r.staged_version)
            for layer, results in by_layer.items() for r in results]


def passed_versions(spark, settings: Settings, day: dt.date) -> dict[str, int | None]:
    """Staged versions whose layer gate passed for the run date: table name -> staged version
    (None for a batch the run kept in memory, lake.keep_staged)."""
    key = (settings.lake, day)
    if key not in _verdicts:
        results = lake.read_published(spark, RESULTS, settings.lake)
        _verdicts[key] = [] if results is None else [
            r.asDict() for r in results.where(F.col("run_date") == lake.lit_date(day)).select(*KNOWN_VERDICT_FIELDS).collect()]
    rows = _verdicts[key]
    failed_layers = {r["layer"] for r in rows if r["severity"] == "fail" and not r["success"]}
    return {r["table_name"]: r["staged_version"] for r in rows
            if r["layer"] not in failed_layers and r["table_name"] in layer_tables(r["layer"])}


def forget_known_verdicts() -> None:
    """Let go of the verdicts this process knows; the next read comes from the table (what
    other processes recorded since)."""
    _verdicts.clear()
    _deferred.clear()


def forget_verdicts(spark, settings: Settings, layer: str, day: dt.date, defer: bool = False) -> None:
    """Delete the layer's recorded verdicts for the run date, before its write replaces the staged
    tables they judged. Staged versions start again at 0 once publish has dropped a staging, so an
    old verdict could otherwise name a new batch no gate has seen: the next layer would read it,
    and publish take it, as passed. (`defer`: see record.)"""
    passed_versions(spark, settings, day)  # reads the date's verdicts once per process
    if any(r["layer"] == layer for r in _verdicts[(settings.lake, day)]):
        record(spark, settings, layer, day, [], defer)


def gate_passed(passed: dict, name: str, staged: lake.Staged) -> bool:
    return name in passed and passed[name] == staged.version


def staged_view(spark, settings: Settings, day: dt.date, layers) -> lake.LakeView:
    """The lake as the write step of a later layer sees it (see module doc)."""
    passed = passed_versions(spark, settings, day)
    overlays = {}
    for layer in layers:
        ranges = layer_job(layer).write_ranges(day, settings)
        for name in layer_tables(layer):
            staged = lake.read_staged(spark, name, settings.lake, day)
            if staged is None:
                continue
            if gate_passed(passed, name, staged):
                overlays[name] = (staged.batch, *ranges[name])
            else:
                print(f"{layer}: staged {name} of {day} has no passed gate; reading the published table", flush=True)
    return lake.LakeView(spark, settings.lake, overlays)


# Verdicts a run of every step in one process recorded but has not written yet: (lake, run date) ->
# layer -> its results, written by write_deferred_verdicts in one commit.
_deferred: dict[tuple[str, dt.date], dict[str, list]] = {}


def record(spark, settings: Settings, layer: str, day: dt.date, results: list[gates.CheckResult], defer: bool = False) -> None:
    """Replace the layer's verdicts for the run date in quality.validation_results.

    defer (a run of every step in one process): only this process learns them now, and
    write_deferred_verdicts writes every deferred layer's in one commit before publish. Each
    layer's commit of its own took 1-1.5 s of a small day's run: three of them per run, six when
    the date had run before (its old verdicts deleted before each write)."""
    key = (settings.lake, day)
    known = _verdicts.get(key)
    if defer and known is not None:
        _deferred.setdefault(key, {})[layer] = list(results)
    else:
        _deferred.get(key, {}).pop(layer, None)
        _replace_verdicts(spark, settings, day, {layer: results})
    # What this process knows of the date's verdicts changes as the table does (reading them back
    # was a Delta read per gate).
    if known is not None:
        names = table(RESULTS).schema.fieldNames()
        known[:] = [r for r in known if r["layer"] != layer] + [
            {name: value for name, value in zip(names, row, strict=True) if name in KNOWN_VERDICT_FIELDS}
            for row in _verdict_rows(day, {layer: results})]


def write_deferred_verdicts(spark, settings: Settings, day: dt.date) -> None:
    key = (settings.lake, day)
    layers = _deferred.pop(key, None)
    if layers:
        try:
            _replace_verdicts(spark, settings, day, layers)
        except Exception:
            _verdicts.pop(key, None)  # what this process held was never stored: read the table again
            raise


def _replace_verdicts(spark, settings: Settings, day: dt.date, by_layer: dict[str, list]) -> None:
    df = spark.createDataFrame(_verdict_rows(day, by_layer), table(RESULTS).schema)
    layers = ", ".join(f"'{layer}'" for layer in by_layer)
    lake.replace_rows(spark, df, RESULTS, settings.lake, f"run_date = '{day.isoformat()}' AND layer IN ({layers})")


# ---- the three steps -------------------------------------------------------------------------

# Delta writes of the rows of one layer go this many at a time. A small table's write is mostly
# fixed cost (jobs scheduled, the log listed and committed), which overlaps: 8 small gold tables took
# 11.5 s one after another and 8.3 s two at a time on 2 cores (bench of 2026-11-29; 4 at a time
# was no faster there). Each table is still one commit of its own.
WRITE_THREADS = 2


def in_parallel(calls: dict[str, tuple]) -> dict:
    """{name: (function, *args)} -> {name: result}, WRITE_THREADS at a time; the first error raises."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        futures = {name: pool.submit(call[0], *call[1:]) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}

# From this size of a day's landing files on, the outputs a layer reads again itself are staged as
# they are computed (Batches.materialize's `output`). Below it they are materialized as any other
# frame, and a run of every step keeps them in memory instead of writing them: staged always, they
# made small days slower (150 visitors, warm: 39-42 s -> 52-54 s a day), where the 10M-record day
# gained (723 s -> 682 s; 893 MiB of landing files; 1M records are ~90 MiB).
STAGE_WHILE_COMPUTING_FROM_BYTES = 128 * 2**20


def write(spark, settings: Settings, layer: str, day: dt.date, keep_in_memory: bool = False,
          stage_while_computing: bool = False) -> dict[str, int | None]:
    """Compute the layer's tables for the date and stage them; returns staged versions.

    keep_in_memory (a run of every step in one process, on a local master): batches of up to
    lake.KEEP_STAGED_ROWS rows are held in this process instead of written (version None); run()
    stores them as staged tables only if a gate fails. Their Delta writes to staging were ~17 of a
    run's ~37 writes, ~10% of a small day's run time. stage_while_computing: outputs the job reads
    again itself are staged as they are computed (Batches.materialize's `output`), whatever their size."""
    started = time.monotonic()
    job = layer_job(layer)
    view = staged_view(spark, settings, day, LAYERS[: LAYERS.index(layer)])
    # Deleting the old verdicts may wait only while nothing is staged where they could name it.
    forget_verdicts(spark, settings, layer, day, defer=keep_in_memory and not stage_while_computing)
    batches = Batches(spark, lake.checkpoint_path(settings.lake, day, layer), label=f"{layer} write {day}",
                      stage_output=(lambda df, name: lake.stage_computing(df, name, settings.lake, day))
                      if stage_while_computing else None)
    try:
        with jobs_named(spark, batches.label):
            built = job.build(spark, settings, day, batches.materialize, view)
        ready, counts = {}, {name: staged.rows for name, staged in batches.staged.items()}
        for name in job.TABLES:
            if name in batches.staged:
                continue
            # A job may already have materialized an output (conformed, then kept); outputs it read
            # again itself it staged already (Batches.materialize's `output`).
            df = built[name]
            if not (batches.holds(df) and df.columns == table(name).column_names):
                df = batches.materialize(conform(df, name), what=name)
            counts[name] = batches.count(df)
            if counts[name] <= lake.KEEP_STAGED_ROWS and not batches.local:
                # Kept for the gate, later layers and publish (lake._staged) after release deletes
                # the checkpoint files it was read from (a local master's materialize kept it in
                # memory already): held by the executors, as lake._staged explains.
                with jobs_named(spark, f"{batches.label}: {name} kept"):
                    df = df.localCheckpoint(eager=True)
            ready[name] = df
        kept = {name for name in ready if keep_in_memory and batches.local and counts[name] <= lake.KEEP_STAGED_ROWS}
        for name in kept:
            lake.keep_staged(ready[name], name, settings.lake, day, counts[name])
        versions = {name: staged.version for name, staged in batches.staged.items()}
        versions.update({name: None for name in kept})
        if len(kept) < len(ready):
            write_deferred_verdicts(spark, settings, day)
        versions.update(in_parallel({name: (lake.stage, df, name, settings.lake, day, counts[name])
                                     for name, df in ready.items() if name not in kept}))
    finally:
        batches.release()
    where = ("staged it" if not kept else "kept it in memory until publish" if len(kept) == len(counts)
             else f"staged {len(counts) - len(kept)} of its tables, kept the others in memory until publish")
    print(f"{layer}: computed {day} in {time.monotonic() - started:.0f}s and {where}: "
          + ", ".join(f"{name}={counts[name]}" for name in job.TABLES), flush=True)
    return versions


def reconciliation(spark, settings: Settings, layer: str, day: dt.date, staged: dict[str, DataFrame]) -> DataFrame:
    view = staged_view(spark, settings, day, LAYERS[: LAYERS.index(layer)])
    if layer == "bronze":
        return reconcile.bronze_checks(staged["bronze.landing_files"], staged["bronze.weblog_lines"], staged["bronze.tag_events"])
    if layer == "silver":
        return reconcile.silver_checks(
            view.range("bronze.weblog_lines", day, day), view.range("bronze.tag_events", day, day),
            staged["silver.weblog_hits"], staged["silver.tag_events"], staged["silver.quarantine"], staged["silver.file_audit"])
    start, end = layer_job("gold").session_range(day, settings)
    return reconcile.gold_checks(view.range("silver.hits", start, end), staged, start, end)


def docs_location(settings: Settings, layer: str, day: dt.date) -> str:
    return f"{settings.lake}/_quality/data_docs/run_date={day.isoformat()}/{layer}"


def audit(spark, settings: Settings, layer: str, day: dt.date, defer_record: bool = False) -> list[gates.CheckResult]:
    """The gate of a layer: validate its staged tables, record the verdict (`defer_record`: see
    record). Raises GateFailed."""
    started = time.monotonic()
    params = layer_params(spark, settings, layer, day)
    gate = gates.Gate(docs_location(settings, layer, day))
    results: list[gates.CheckResult] = []
    staged = {}
    for name in layer_tables(layer):
        found = lake.read_staged(spark, name, settings.lake, day)
        if found is None:
            raise gates.NotValidated(f"nothing of {name} is staged for {day}: run `clicklake run --date {day} --layer {layer} --step write` first")
        staged[name] = found.batch
        results.append(schema_check(name, found.batch, found.version))
        with jobs_named(spark, f"{layer} gate {day}: {name}"):
            results.extend(gate.validate(found.batch, name, params[name], rows=found.rows, staged_version=found.version))
    if all(r.success for r in results if r.expectation == "columns_match_schema"):
        with jobs_named(spark, f"{layer} gate {day}: {gates.RECONCILIATION}"):
            # A row per check and file or date: computed once here, where counting it and then
            # validating it ran the layer's whole reconciliation plan twice (gold's: ~14 joins).
            checks = reconciliation(spark, settings, layer, day, staged)
            rows = checks.collect()
            results.extend(gate.validate(spark.createDataFrame(rows, checks.schema), gates.RECONCILIATION, {}, rows=len(rows)))
    else:
        results.append(gates.CheckResult(gates.RECONCILIATION, "reconciliation", "", "fail", False,
                                         "not run: a staged table does not match its schema"))
    record(spark, settings, layer, day, results, defer_record)
    docs = gate.build_docs()
    for result in results:
        if not result.success:
            print(result.line(), flush=True)
    failures = [r for r in results if not r.success and r.severity == "fail"]
    if failures:
        raise gates.GateFailed(layer, failures, f"{lake.staging_root(settings.lake, day)}/{layer}", docs or "")
    print(f"{layer}: gate passed {sum(r.success for r in results)}/{len(results)} checks in "
          f"{time.monotonic() - started:.0f}s; Data Docs: {docs}", flush=True)
    return results


def publish(spark, settings: Settings, layers, day: dt.date) -> dict[str, int]:
    """Publish the staged tables of the layers whose gate passed; returns the new table versions."""
    started = time.monotonic()
    passed = passed_versions(spark, settings, day)
    plan = []
    for layer in layers:
        ranges = layer_job(layer).write_ranges(day, settings)
        for name in layer_tables(layer):
            staged = lake.read_staged(spark, name, settings.lake, day)
            if staged is None or not gate_passed(passed, name, staged):
                what = ("nothing is staged" if staged is None else "the batch this run holds has no passed gate"
                        if staged.version is None else f"staged version {staged.version} has no passed gate")
                raise gates.NotValidated(f"cannot publish {name} for {day}: {what}; published tables are unchanged")
            plan.append((name, staged, ranges[name]))
    # Checked all before publishing any: a refused table never leaves its layer half published.
    versions = in_parallel({name: (lake.publish, spark, s.batch, name, settings.lake, *r, s.rows, s.version,
                                   settings.publish_files_from_rows, settings.s3, day) for name, s, r in plan})
    for name, _, _ in plan:
        lake.drop_staged(spark, name, settings.lake, day)
    print(f"published {day} in {time.monotonic() - started:.0f}s: " + ", ".join(f"{k}@v{v}" for k, v in versions.items()), flush=True)
    return versions


def run(spark, settings: Settings, day: dt.date, layers=LAYERS, steps=STEPS) -> None:
    from clicklake.landing import MissingLandingFiles, list_landing_files
    from clicklake.spark import CODEGEN_MIN_INPUT_BYTES, tune_for_input

    if "audit" in steps:
        gates.preload()
    try:
        size = list_landing_files(spark, settings.raw, day).total_bytes
    except MissingLandingFiles:
        if "bronze" in layers and "write" in steps:
            raise
        size = CODEGEN_MIN_INPUT_BYTES  # silver and gold read the lake; keep the default
    tune_for_input(spark, size)
    keep_in_memory = all(step in steps for step in STEPS)
    written = []
    try:
        for layer in layers:
            if "write" in steps:
                write(spark, settings, layer, day, keep_in_memory, size >= STAGE_WHILE_COMPUTING_FROM_BYTES)
                written.append(layer)
            if "audit" in steps:
                audit(spark, settings, layer, day, defer_record=keep_in_memory)
    except gates.GateFailed:
        write_deferred_verdicts(spark, settings, day)
        if keep_in_memory:
            stage_kept_batches(spark, settings, day, written)
        raise
    except Exception:
        # The verdicts reached so far are recorded all the same; failing to must not hide why the run stopped.
        try:
            write_deferred_verdicts(spark, settings, day)
        except Exception as error:
            print(f"could not record the verdicts of {day} reached before this error: {error}", file=sys.stderr, flush=True)
        raise
    write_deferred_verdicts(spark, settings, day)  # before publish, which takes only what they passed
    if "publish" in steps:
        publish(spark, settings, layers, day)


def stage_kept_batches(spark, settings: Settings, day: dt.date, layers) -> None:
    """After a failed gate: store the batches the run kept in memory as staged tables, as a run of
    separate steps would have, so the rejected batch can be inspected and the steps rerun one by
    one (`--step audit`, then `--step publish`); the layers' recorded verdicts then name the
    staged versions."""
    for layer in layers:
        stored = {}
        for name in layer_tables(layer):
            kept = lake.kept_staged(name, settings.lake, day)
            if kept is not None:
                stored[name] = lake.stage(kept.batch, name, settings.lake, day, kept.rows)
        if not stored:
            continue
        rows = lake.read_published(spark, RESULTS, settings.lake).where(
            (F.col("run_date") == lake.lit_date(day)) & (F.col("layer") == layer)).collect()
        record(spark, settings, layer, day, [
            gates.CheckResult(r["table_name"], r["expectation"], r["arguments"], r["severity"], r["success"], r["observed"],
                              stored.get(r["table_name"], r["staged_version"])) for r in rows])
