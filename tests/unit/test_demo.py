"""What `make demo` echoes of the DAG run's log."""

from __future__ import annotations

import pytest

from clicklake.demo import echo_interesting

PREFIX = "[2026-11-29T18:29:27.123+0000] {clicklake.py:42} INFO - "
ECHO_CASES = [
    ("a gate verdict, without Airflow's prefix", PREFIX + "gold: gate passed 59/59 checks in 12s", "  gold: gate passed 59/59 checks in 12s"),
    ("a long publish line keeps its start and is cut at the end", PREFIX + "published 2026-11-28 in 35s: " + "x" * 300,
     "  " + ("published 2026-11-28 in 35s: " + "x" * 300)[:216] + " ..."),
    ("a failed expectation", PREFIX + "[FAIL] bronze.landing_files: expect_column_values_to_be_unique(column=fingerprint)",
     "  [FAIL] bronze.landing_files: expect_column_values_to_be_unique(column=fingerprint)"),
    ("Airflow chatter is not echoed", PREFIX + "Filling up the DagBag from /dags", None),
]


@pytest.mark.parametrize("line,shown", [c[1:] for c in ECHO_CASES], ids=[c[0] for c in ECHO_CASES])
def test_echoed_log_lines(capsys, line, shown):
    echo_interesting(line)
    out = capsys.readouterr().out
    assert out == (shown + "\n" if shown else "")
    if shown:
        assert len(out.rstrip("\n")) <= 222
