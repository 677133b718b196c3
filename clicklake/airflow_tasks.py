"""What the tasks of the DAGs run, inside the task's own process: `clicklake run` for one date,
layer and steps (clickstream_nightly), or `clicklake maintain` (clickstream_maintenance).

The DAG file imports this module only when a task runs, so parsing the DAG loads neither Spark
nor the jobs. Under a scheduler each task is a process of its own (one Spark driver a task);
`airflow dags test` runs the tasks one after another in one process, and they share its driver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class BadInput(Exception):
    """A landing file Spark could not read; the message names it and what to do."""


def run_task(day: str, layer: str, steps: str, raw: str, lake_root: str, s3_env: Mapping[str, str]) -> None:
    """Raises GateFailed (naming the failed expectations and observed values) when a gate fails,
    which fails the Airflow task; the published tables are then as they were."""
    from clicklake import cli, lake, pipeline

    # The Connection's credentials reach the jobs as the standard AWS variables, as in a shell.
    os.environ.update(s3_env)
    # A task reads what earlier tasks staged, and the verdicts they recorded, from the lake, never
    # from a driver they happened to share.
    lake.forget_staged()
    pipeline.forget_known_verdicts()
    args = cli.parser().parse_args(["run", "--date", day, "--raw", raw, "--lake", lake_root, "--layer", layer, "--step", steps])
    try:
        cli.cmd_run(args)
    except Exception as exc:
        message = cli.read_error(exc)
        if message is None:
            raise
        raise BadInput(message) from exc


def maintain_task(day: str, lake_root: str, s3_env: Mapping[str, str]) -> None:
    """What the clickstream_maintenance DAG's task runs: `clicklake maintain` for the week up to `day`."""
    from clicklake import cli

    os.environ.update(s3_env)
    args = cli.parser().parse_args(["maintain", "--date", day, "--days", "7", "--lake", lake_root])
    cli.cmd_maintain(args)
