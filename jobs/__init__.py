"""Spark jobs, one module per layer (bronze, silver, gold) plus the pure transforms they use."""


def stay_lazy(df):
    """The default `materialize` hook of the transforms: nothing, the frame stays a plan. The I/O
    layer (clicklake.pipeline.Batches) passes one that computes the rows once and holds them."""
    return df
