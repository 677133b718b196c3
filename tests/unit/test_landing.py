"""The landing listing a Spark Connect client makes without a JVM (clicklake.storage) finds the
files Hadoop's glob finds, spelled as Hadoop spells them: the paths are every row's lineage and
feed the log hits' ids, so a run through Spark Connect must see the same strings. (On S3 the
end-to-end cluster test compares a Connect run's tables with a classic run's, row for row.)"""

from __future__ import annotations

import pytest

from clicklake import landing, storage

LAYOUT = [
    ("weblogs/dt=2026-11-20/web-01/access.log.gz", b"x" * 7),
    ("weblogs/dt=2026-11-20/web-01/.hidden.log", b"h"),
    ("weblogs/dt=2026-11-20/web-02/access.log", b"y" * 3),
    ("weblogs/dt=2026-11-20/loose-file.log", b"z"),  # not under a host folder
    ("weblogs/dt=2026-11-20/web-03/deeper/access.log", b"d"),  # a level too deep
    ("weblogs/dt=2026-11-200/web-01/access.log", b"n"),  # a sibling whose name starts alike
    ("events/dt=2026-11-20/tags.ndjson", b"e" * 5),
    ("events/dt=2026-11-20/sub/tags.ndjson", b"s"),
]
PATTERNS = [
    ("host folders of one date", "weblogs/dt=2026-11-20/*/*"),
    ("files of one date", "events/dt=2026-11-20/*"),
    ("a date with no files", "events/dt=2026-11-21/*"),
]


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    location = storage.open_location(str(root))
    for key, data in LAYOUT:
        location.put(key, data)
    return root


@pytest.mark.parametrize("pattern", [p[1] for p in PATTERNS], ids=[p[0] for p in PATTERNS])
def test_the_listing_without_a_jvm_equals_hadoops_glob(spark, raw, pattern):
    assert landing._glob_without_jvm(f"{raw}/{pattern}") == landing._glob(spark, f"{raw}/{pattern}")


def test_deleting_a_folder_leaves_its_siblings(tmp_path):
    location = storage.open_location(str(tmp_path))
    for key in ("stage/hits/part-0.parquet", "stage/hits/_delta_log/0.json", "stage/hits_v2/part-0.parquet"):
        location.put(key, b"1")
    storage.delete_tree(f"file:{tmp_path}/stage/hits")
    assert location.list() == ["stage/hits_v2/part-0.parquet"]
