"""Seeded row samples: the one way the project caps how many rows a costly step sees."""
from __future__ import annotations

import numpy as np


def sample_rows(n: int, cap: int | None, seed) -> np.ndarray:
    """Row indices for a step that sees at most ``cap`` of ``n`` rows: all of them, or a seeded sample of
    ``cap`` in row order. ``seed`` is anything ``numpy.random.default_rng`` takes (a step that samples
    independently of another passes its own, e.g. ``[seed, 1]``)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))
