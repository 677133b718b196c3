"""Bronze file reads: every line of every file, numbered within its file."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
from pathlib import Path

from clicklake.jobs import bronze

D = dt.date(2026, 11, 28)

# (description, file name, content): small files, which the planner would pack into one task
FILES = [
    ("plain text", "a.log", b"a1\na2\na3\n"),
    ("gzip", "b.log.gz", gzip.compress(b"b1\nb2\n")),
    ("bzip2, last line without a newline", "c.log.bz2", bz2.compress(b"c1\nc2\nc3\nc4")),
    ("empty", "d.log", b""),
    ("CRLF line ends", "e.log", b"e1\r\ne2\r\n"),
]


def _write(tmp_path: Path) -> tuple[str, ...]:
    for _, name, content in FILES:
        (tmp_path / name).write_bytes(content)
    return tuple(str(tmp_path / name) for _, name, _ in FILES)


def test_every_line_is_numbered_within_its_file(spark, tmp_path):
    lines = bronze.read_weblog_files(spark, _write(tmp_path), D)
    got = sorted((Path(r["source_file"]).name, r["line_number"], r["line"]) for r in lines.collect())
    assert got == [("a.log", 1, "a1"), ("a.log", 2, "a2"), ("a.log", 3, "a3"), ("b.log.gz", 1, "b1"), ("b.log.gz", 2, "b2"),
                   ("c.log.bz2", 1, "c1"), ("c.log.bz2", 2, "c2"), ("c.log.bz2", 3, "c3"), ("c.log.bz2", 4, "c4"),
                   ("e.log", 1, "e1"), ("e.log", 2, "e2")]


def test_numbering_moves_no_line_between_tasks(spark, tmp_path):
    # A window over each file's lines would shuffle and sort every line of the day.
    with bronze.whole_files(spark):
        numbered = bronze.weblog_lines(bronze.read_lines(spark, _write(tmp_path)), D)
        plan = numbered._jdf.queryExecution().executedPlan().toString()
        tasks = numbered.rdd.getNumPartitions()
    assert "Exchange" not in plan and "Window" not in plan
    assert tasks == sum(1 for *_, content in FILES if content), "a task per file with lines, small files too"
