"""Noisy-label pruning by confident learning (Northcutt et al., 2021) on the end model's own head.

``noisy_label_flags`` follows cleanlab's ``find_label_issues`` with ``filter_by='prune_by_noise_rate'``
off and the per-class thresholds of the confident joint; ``tests/test_noise.py`` checks it against
cleanlab on the same out-of-fold probabilities.
"""
from __future__ import annotations

import numpy as np

from data.sampling import sample_rows
from models.end_model import head_proba, train_head


def out_of_fold_proba(X: np.ndarray, labels: np.ndarray, n_classes: int, head_kw: dict, folds: int = 5,
                      seed: int = 0, max_rows: int | None = None) -> np.ndarray:
    """Head probabilities for every row from a head that did not train on it (``folds``-fold). With
    ``max_rows`` below the row count, the fold heads train on a seeded sample of that many rows, and each
    row outside the sample (no head saw it) gets the mean of the fold heads' probabilities."""
    n = len(labels)
    E = np.eye(n_classes, dtype=np.float32)
    rows = sample_rows(n, max_rows, [seed, 1])
    rest = np.ones(n, dtype=bool)
    rest[rows] = False
    fold = np.random.default_rng(seed).permutation(np.arange(len(rows)) % folds)
    P = np.zeros((n, n_classes), dtype=np.float32)
    for f in range(folds):
        tr, va = rows[fold != f], rows[fold == f]
        W, b = train_head(X[tr], E[labels[tr]], **head_kw)
        P[va] = head_proba(X[va], W, b)
        if rest.any():
            P[rest] += head_proba(X[rest], W, b) / folds
    return P


def confident_flags(P: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Confident learning on out-of-fold probabilities ``P``: per class the threshold ``t_c`` is the
    mean ``p_c`` over rows labelled ``c``; a row is flagged when the class it most likely belongs to
    is not its label and that class's probability reaches its threshold."""
    n, n_classes = P.shape
    own = P[np.arange(n), labels]
    thr = np.ones(n_classes, dtype=np.float32)
    for c in np.unique(labels):
        thr[c] = own[labels == c].mean()
    pred = P.argmax(axis=1)
    return (pred != labels) & (P[np.arange(n), pred] >= thr[pred])


def noisy_label_flags(X: np.ndarray, labels: np.ndarray, n_classes: int, head_kw: dict, folds: int = 5,
                      seed: int = 0, max_rows: int | None = None) -> np.ndarray:
    """Boolean mask of rows whose hard label is likely wrong (True = flagged); none with fewer than
    ``2 * folds`` rows. ``max_rows``: see :func:`out_of_fold_proba`."""
    if len(labels) < 2 * folds:
        return np.zeros(len(labels), dtype=bool)
    return confident_flags(out_of_fold_proba(X, labels, n_classes, head_kw, folds, seed, max_rows), labels)


def weak_label_flags(X: np.ndarray, proba: np.ndarray, candidates: np.ndarray, head_kw: dict, folds: int,
                     seed: int, max_rows: int | None = None) -> np.ndarray:
    """Pool-length mask of ``candidates`` rows whose weak label (argmax) confident learning flags."""
    out = np.zeros(len(candidates), dtype=bool)
    rows = np.flatnonzero(candidates)
    if len(rows):
        out[rows] = noisy_label_flags(X[rows], proba[rows].argmax(axis=1), proba.shape[1], head_kw, folds, seed,
                                      max_rows)
    return out
