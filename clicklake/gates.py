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
    def __init__(self, layer: str, failures: list[CheckResult]):
        self.failures = failures
        lines = "\n".join(f.line() for f in failures)
        super().__init__(f"quality gate of {layer} failed; nothing was published:\n{lines}")


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
    batch_definition = (
        context.data_sources.add_spark(name="clicklake", persist=False)
        .add_dataframe_asset(name="staged")
        .add_batch_definition_whole_dataframe(name="whole")
    )
    return gx, batch_definition


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


def validate(df, table: str, params: dict[str, str]) -> list[CheckResult]:
    """Run the table's suite on a Spark DataFrame."""
    gx, batch_definition = _context()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name=table)
    for item in suite_spec(table):
        config = ExpectationConfiguration(
            type=item["type"], kwargs=_substitute(item.get("kwargs", {}), params), meta={"severity": item["severity"]}
        )
        suite.add_expectation(config.to_domain_obj())
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    outcome = batch.validate(suite, result_format="SUMMARY")
    results = []
    for r in outcome.results:
        config = r.expectation_config
        args = ", ".join(f"{k}={v}" for k, v in config.kwargs.items() if k not in ("batch_id",))
        error = (r.exception_info or {}).get("exception_message") if not r.success else None
        observed = f"error: {error}" if error else _observed(r.result or {})
        results.append(CheckResult(table, config.type, args, config.meta.get("severity", "fail"), bool(r.success), observed))
    return results
