"""One run date through the layers: stage (write the date's tables to staging), gate (validate the
staged tables, then publish them in one Delta commit per table). This is what `clicklake run`
and each Airflow task call.
"""

from __future__ import annotations

import datetime as dt
import time
from types import ModuleType

from clicklake import gates, lake
from clicklake.config import Settings
from clicklake.tables import table

LAYERS = ("bronze", "silver", "gold")
STEPS = ("stage", "gate")


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


def schema_check(spark, name: str, df) -> gates.CheckResult:
    expected = table(name).column_names
    return gates.CheckResult(name, "columns_match_schema", f"schemas/{name}.json", "fail", df.columns == expected, str(df.columns))


def stage(spark, settings: Settings, layer: str, day: dt.date) -> dict[str, int]:
    started = time.monotonic()
    counts = layer_job(layer).stage(spark, settings, day)
    print(f"{layer}: staged {day} in {time.monotonic() - started:.0f}s: " + ", ".join(f"{k}={v}" for k, v in counts.items()), flush=True)
    return counts


def gate(spark, settings: Settings, layer: str, day: dt.date) -> list[gates.CheckResult]:
    """Validate every staged table of the layer; publish all of them only if none fails."""
    started = time.monotonic()
    ranges = layer_job(layer).write_ranges(day, settings)
    results: list[gates.CheckResult] = []
    for name, (start, end) in ranges.items():
        table_started = time.monotonic()
        # Cached: the suite's metrics are many small Spark jobs over the same rows.
        staged = lake.read_staged(spark, name, settings.lake, day).cache()
        try:
            results.append(schema_check(spark, name, staged))
            results.extend(gates.validate(staged, name, gate_params(day, start, end, settings)))
        finally:
            staged.unpersist()
        print(f"{layer}: validated {name} in {time.monotonic() - table_started:.1f}s", flush=True)
    for result in results:
        if not result.success:
            print(result.line(), flush=True)
    failures = [r for r in results if not r.success and r.severity == "fail"]
    if failures:
        raise gates.GateFailed(layer, failures)
    versions = {}
    for name, (start, end) in ranges.items():
        versions[name] = lake.publish(spark, name, settings.lake, day, start, end)
    # Staging goes only once all are published, so a gate retried after a crash republishes all.
    for name in ranges:
        lake.remove_staged(spark, name, settings.lake, day)
    passed = sum(r.success for r in results)
    print(
        f"{layer}: gate passed {passed}/{len(results)} checks in {time.monotonic() - started:.0f}s; published "
        + ", ".join(f"{k}@v{v}" for k, v in versions.items()),
        flush=True,
    )
    return results


def run(spark, settings: Settings, day: dt.date, layers=LAYERS, steps=STEPS) -> None:
    if "gate" in steps:
        gates.preload()
    for layer in layers:
        if "stage" in steps:
            stage(spark, settings, layer, day)
        if "gate" in steps:
            gate(spark, settings, layer, day)
