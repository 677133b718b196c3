"""Materialized frames (clicklake.spark.local_checkpoint): rows kept on the block manager's disk."""

from __future__ import annotations

from pyspark.sql import functions as F

from clicklake.spark import local_checkpoint


def _cached_rdds(spark) -> dict[int, tuple[int, int]]:
    """id -> (bytes in memory, bytes on disk) of every RDD the block manager holds."""
    return {info.id(): (info.memSize(), info.diskSize()) for info in spark.sparkContext._jsc.sc().getRDDStorageInfo()}


def test_materialized_rows_are_kept_on_disk_not_in_the_heap(spark):
    before = _cached_rdds(spark)
    kept = local_checkpoint(spark.range(10_000).withColumn("double", F.col("id") * 2))
    new = [sizes for rdd, sizes in _cached_rdds(spark).items() if rdd not in before]
    assert len(new) == 1
    in_memory, on_disk = new[0]
    assert in_memory == 0 and on_disk > 0
    # Read back from there, cut from the plan that computed them.
    assert kept.agg(F.count(F.lit(1)), F.sum("double")).first() == (10_000, 2 * sum(range(10_000)))
    assert "Range" not in kept._jdf.queryExecution().optimizedPlan().toString()
