"""Spark jobs, one module per layer (bronze, silver, gold) plus the pure transforms they use."""

from pyspark.sql import Column
from pyspark.sql import functions as F


def stay_lazy(df, what: str | None = None, output: str | None = None):
    """The default `materialize` hook of the transforms: nothing, the frame stays a plan. The I/O
    layer (clicklake.pipeline.Batches) passes one that computes the rows once and holds them
    (an `output` table, by storing it as the run's staged table)."""
    return df


# Seconds to the microsecond, summed exactly: doubles added in another order (2 partitions or 8,
# local or on a cluster) differ in their last bits, and then so would the tables (the cluster-mode
# test found gold.page_daily's averages differing at the 14th digit).
_EXACT_SECONDS = "decimal(20,6)"


def exact_sum(column: str) -> Column:
    return F.sum(F.col(column).cast(_EXACT_SECONDS)).cast("double")


def exact_mean(column: str) -> Column:
    return F.avg(F.col(column).cast(_EXACT_SECONDS)).cast("double")
