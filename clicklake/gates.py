"""Quality gates: Great Expectations suites kept as data in expectations/<layer>.<table>.yml.

Each expectation carries a severity: `fail` stops publication, `warn` is reported only.
String arguments may name the run's window: ${run_date}, ${range_start}, ${range_end}.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

SEVERITIES = ("fail", "warn")


@dataclass(frozen=True)
class CheckResult:
    table: str
    expectation: str
    arguments: str
    severity: str
    success: bool
    observed: str

    def line(self) -> str:
        mark = "ok  " if self.success else ("FAIL" if self.severity == "fail" else "warn")
        return f"  [{mark}] {self.table}: {self.expectation}({self.arguments}) observed {self.observed}"


class GateFailed(RuntimeError):
    def __init__(self, layer: str, failures: list[CheckResult], kept: dict[str, str] | None = None):
        self.failures = failures
        self.kept = kept or {}
        lines = "\n".join(f.line() for f in failures)
        where = "".join(f"\n  rejected batch of {name} kept at {path}" for name, path in sorted(self.kept.items()))
        super().__init__(f"quality gate of {layer} failed; nothing of {layer} was published:\n{lines}{where}")


def suite_spec(table: str) -> list[dict]:
    """The expectations of a table's suite, validated for shape (not yet for GX arguments)."""
    entry = resources.files("clicklake.expectations").joinpath(f"{table}.yml")
    if not entry.is_file():
        raise FileNotFoundError(f"no expectation suite for {table}: add expectations/{table}.yml")
    spec = yaml.safe_load(entry.read_text())
    if spec.get("table") != table:
        raise ValueError(f"expectations/{table}.yml names table {spec.get('table')!r}")
    expectations = spec.get("expectations") or []
    for item in expectations:
        if item.get("severity") not in SEVERITIES:
            raise ValueError(f"expectations/{table}.yml: {item.get('type')} needs severity fail or warn")
    return expectations


def _substitute(value, params: dict[str, str]):
    if isinstance(value, str):
        # Only the known names: regexes in the suites use `$` themselves.
        for name, replacement in params.items():
            value = value.replace("${" + name + "}", replacement)
        return value
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


_preloading: threading.Thread | None = None


def preload() -> None:
    """Import Great Expectations in the background (it takes 10-20 s) while Spark works."""
    global _preloading
    if _preloading is None and "great_expectations" not in sys.modules:
        _preloading = threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True)
        _preloading.start()


# Up to this many rows a batch is validated in pandas after one collect: GX runs each metric as a
# separate Spark job, which costs seconds per expectation on small batches. Larger batches stay in Spark.
PANDAS_MAX_ROWS = int(os.environ.get("CLICKLAKE_GX_PANDAS_MAX_ROWS", "300000"))


@lru_cache(maxsize=1)
def _context():
    if _preloading is not None:
        _preloading.join()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    # persist=False: GX would otherwise cache the frame and never release it.
    batches = {
        "spark": context.data_sources.add_spark(name="spark", persist=False)
        .add_dataframe_asset(name="staged")
        .add_batch_definition_whole_dataframe(name="whole"),
        "pandas": context.data_sources.add_pandas(name="pandas")
        .add_dataframe_asset(name="staged")
        .add_batch_definition_whole_dataframe(name="whole"),
    }
    return gx, batches


def _as_pandas(df):
    """The batch as pandas (maps as text: no expectation looks inside them)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    columns = [F.col(f.name).cast("string").alias(f.name) if isinstance(f.dataType, T.MapType) else F.col(f.name)
               for f in df.schema.fields]
    return df.select(columns).toPandas()


def _exception_message(info) -> str | None:
    """GX reports an expectation that could not run either flat or keyed by metric."""
    if not info:
        return None
    if info.get("raised_exception") or info.get("exception_message"):
        return info.get("exception_message") or "raised an exception"
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return value["exception_message"].strip().splitlines()[-1]
    return None


def _observed(result: dict) -> str:
    if "observed_value" in result:
        return json.dumps(result["observed_value"], default=str)
    if "unexpected_count" in result:
        sample = result.get("partial_unexpected_list") or []
        text = f"{result['unexpected_count']} unexpected of {result.get('element_count')}"
        if sample:
            text += " e.g. " + json.dumps(sample[:5], default=str)
        return text
    return json.dumps(result, default=str)[:200]


def validate(df, table: str, params: dict[str, str], rows: int | None = None) -> list[CheckResult]:
    """Run the table's suite on a Spark DataFrame of `rows` rows (counted when not given)."""
    gx, batches = _context()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name=table)
    for item in suite_spec(table):
        config = ExpectationConfiguration(
            type=item["type"], kwargs=_substitute(item.get("kwargs", {}), params), meta={"severity": item["severity"]}
        )
        suite.add_expectation(config.to_domain_obj())
    rows = df.count() if rows is None else rows
    if rows <= PANDAS_MAX_ROWS:
        batch = batches["pandas"].get_batch(batch_parameters={"dataframe": _as_pandas(df)})
    else:
        batch = batches["spark"].get_batch(batch_parameters={"dataframe": df})
    outcome = batch.validate(suite, result_format="SUMMARY")
    results = []
    for r in outcome.results:
        config = r.expectation_config
        args = ", ".join(f"{k}={v}" for k, v in config.kwargs.items() if k not in ("batch_id",))
        error = _exception_message(r.exception_info) if not r.success else None
        observed = f"error: {error}" if error else _observed(r.result or {})
        results.append(CheckResult(table, config.type, args, config.meta.get("severity", "fail"), bool(r.success), observed))
    return results
