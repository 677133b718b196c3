"""One run date through the layers, write-audit-publish per layer: compute the date's batches,
validate them (the gate), publish them in one Delta commit per table. This is what
`clicklake run` and each Airflow task call.
"""

from __future__ import annotations

import datetime as dt
import time
from types import ModuleType

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from clicklake import gates, lake
from clicklake.config import Settings
from clicklake.tables import conform, table

LAYERS = ("bronze", "silver", "gold")


def layer_job(layer: str) -> ModuleType:
    from clicklake.jobs import bronze, gold, silver

    return {"bronze": bronze, "silver": silver, "gold": gold}[layer]


def gate_params(day: dt.date, start: dt.date, end: dt.date, settings: Settings) -> dict[str, str]:
    return {
        "run_date": day.isoformat(),
        "range_start": start.isoformat(),
        "range_end": end.isoformat(),
        "events_from": (day - dt.timedelta(days=settings.late_days)).isoformat(),
        "events_to": (day + dt.timedelta(days=1)).isoformat(),
    }


def schema_check(name: str, df: DataFrame) -> gates.CheckResult:
    expected = table(name).column_names
    return gates.CheckResult(name, "columns_match_schema", f"schemas/{name}.json", "fail", df.columns == expected, str(df.columns))


class Batches:
    """Persisted intermediate and output frames of one layer run, released together."""

    def __init__(self):
        self.frames: list[DataFrame] = []
        self.rows: dict[int, int] = {}  # id of a materialized frame -> its row count

    def materialize(self, df: DataFrame) -> DataFrame:
        # Computed once, now: every later consumer (outputs, gate, publish) reads the cached rows.
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        self.rows[id(df)] = df.count()
        self.frames.append(df)
        return df

    def count(self, df: DataFrame) -> int:
        return self.rows[id(df)] if id(df) in self.rows else df.count()

    def release(self) -> None:
        for df in self.frames:
            df.unpersist()
        self.frames.clear()
        self.rows.clear()


def run_layer(spark, settings: Settings, layer: str, day: dt.date) -> list[gates.CheckResult]:
    """Compute, validate and publish one layer for one date. Raises GateFailed, publishing nothing."""
    started = time.monotonic()
    job = layer_job(layer)
    ranges = job.write_ranges(day, settings)
    batches = Batches()
    try:
        built = job.build(spark, settings, day, batches.materialize)
        # A job may already have materialized an output it reads itself (conformed, then cached).
        outputs = {
            name: df if df.is_cached and df.columns == table(name).column_names else batches.materialize(conform(df, name))
            for name, df in built.items()
        }
        counts = {name: batches.count(df) for name, df in outputs.items()}
        print(f"{layer}: computed {day} in {time.monotonic() - started:.0f}s: " + ", ".join(f"{k}={v}" for k, v in counts.items()), flush=True)

        results: list[gates.CheckResult] = []
        for name, (start, end) in ranges.items():
            results.append(schema_check(name, outputs[name]))
            results.extend(gates.validate(outputs[name], name, gate_params(day, start, end, settings), rows=counts[name]))
        for result in results:
            if not result.success:
                print(result.line(), flush=True)
        failures = [r for r in results if not r.success and r.severity == "fail"]
        if failures:
            kept = {name: lake.keep_rejected(outputs[name], name, settings.lake, day) for name in {f.table for f in failures}}
            raise gates.GateFailed(layer, failures, kept)

        # One after another: on a small driver, concurrent Delta commits only contend for the CPU.
        versions = {name: lake.publish(spark, outputs[name], name, settings.lake, *r, rows=counts[name]) for name, r in ranges.items()}
        passed = sum(r.success for r in results)
        print(
            f"{layer}: gate passed {passed}/{len(results)} checks; published in {time.monotonic() - started:.0f}s: "
            + ", ".join(f"{k}@v{v}" for k, v in versions.items()),
            flush=True,
        )
        return results
    finally:
        batches.release()


def run(spark, settings: Settings, day: dt.date, layers=LAYERS) -> None:
    from clicklake.landing import MissingLandingFiles, list_landing_files
    from clicklake.spark import CODEGEN_MIN_INPUT_BYTES, tune_for_input

    gates.preload()
    try:
        size = list_landing_files(spark, settings.raw, day).total_bytes
    except MissingLandingFiles:
        if "bronze" in layers:
            raise
        size = CODEGEN_MIN_INPUT_BYTES  # silver and gold read the lake; keep the default
    tune_for_input(spark, size)
    for layer in layers:
        run_layer(spark, settings, layer, day)
