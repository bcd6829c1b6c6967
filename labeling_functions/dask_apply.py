"""Sharded LF application on Dask: the project's applier mapped over the partitions of a Dask frame.

Each partition is labeled by :func:`labeling_functions.apply.apply_lfs` (its own inverted index),
and the partial label matrices are stacked in partition order, so the result is identical to one
``apply_lfs`` call over the whole frame (tests and ``benchmarks/run.py`` assert it, and compare
with snorkel's own ``DaskLFApplier``). Exemplar and neighbor LFs read embeddings from an ``_emb``
column (see :func:`labeling_functions.apply.with_embeddings`); build such frames with
``dask.config.set(NO_STRING_CONVERSION)`` so Dask keeps that column as arrays.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from labeling_functions.apply import CompiledLF, apply_lfs

# Dask would turn object columns into pyarrow strings, the ``_emb`` arrays included.
NO_STRING_CONVERSION = {"dataframe.convert-string": False}


def _label_partition(part: pd.DataFrame, compiled: Sequence[CompiledLF]) -> pd.DataFrame:
    emb = np.stack(part["_emb"].to_list()) if "_emb" in part.columns and len(part) else None
    L = apply_lfs(part, compiled, emb)
    return pd.DataFrame(L, index=part.index, columns=[f"lf{j}" for j in range(len(compiled))])


def apply_lfs_dask(ddf, compiled: Sequence[CompiledLF], scheduler="processes") -> np.ndarray:
    """Label matrix ``(n_tickets, n_lfs)`` of a ``dask.dataframe.DataFrame``, rows in partition order.

    ``scheduler`` is any Dask scheduler: ``"processes"``, ``"threads"``, ``"sync"`` or a
    ``distributed.Client``.
    """
    meta = pd.DataFrame({f"lf{j}": pd.Series(dtype=np.int16) for j in range(len(compiled))})
    out = ddf.map_partitions(_label_partition, list(compiled), meta=meta).compute(scheduler=scheduler)
    return out.to_numpy(dtype=np.int16).reshape(len(out), len(compiled))


def apply_lfs_sharded(df: pd.DataFrame, compiled: Sequence[CompiledLF], n_shards: int = 2,
                      scheduler="processes") -> np.ndarray:
    """Convenience: split a pandas frame into ``n_shards`` Dask partitions and label them in parallel."""
    import dask
    import dask.dataframe as dd

    if n_shards < 1:
        raise ValueError("n_shards must be at least 1")
    with dask.config.set(NO_STRING_CONVERSION):
        return apply_lfs_dask(dd.from_pandas(df, npartitions=n_shards, sort=False), compiled, scheduler)
