"""Aggregating LF votes into probabilistic labels with snorkel's ``LabelModel``.

Why not one snorkel model over all LFs: ``LabelModel`` one-hot expands an ``n x m`` matrix into
``n x (m*k)`` and builds ``(m*k)^2`` moment matrices; with 77 tags and 300 LFs that is a
23,100-wide problem that segfaulted multi-threaded OpenBLAS, took ~50 minutes on one thread, and
needed >20 GB at 600 LFs. Its conditional-independence assumption is also wrong for LFs that
come from one source: operator-tag LFs are mutually exclusive, exemplar LFs share an encoder.

What we do (:class:`SourceLabelModel`): LFs are grouped into *source families*
(:attr:`LFSpec.family`: ``metadata:operator_tag``, ``neighbor:operator_tag``, ``exemplar``,
``keyword``, ``regex``, or ``provenance.family``). Each family is collapsed into one multi-class
voter: per ticket, the tag most of its firing LFs vote for (ties go to the LF with the higher dev
precision). Snorkel's multi-class ``LabelModel`` is then fit on the ``n x F`` family matrix,
so its size is ``(F*k)^2`` whatever the number of LFs (F is a handful): it learns a per-tag
accuracy for each source and weighs them, seeded with each family's gold_dev precision
(``prec_init``). With fewer than 3 families snorkel's model is not identifiable (it refuses to
fit), so the aggregation falls back to majority vote over the families and says so.

BLAS and torch threads are capped while fitting (``threadpoolctl``).
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from labeling_functions import ABSTAIN


def estimate_prior(op_tags: Sequence, tags: Sequence[str], smoothing: float = 1.0) -> np.ndarray:
    """Class prior from the operator tags (Laplace-smoothed); uniform when there are none."""
    index = {t: i for i, t in enumerate(tags)}
    counts = np.full(len(tags), smoothing, dtype=np.float64)
    for t in op_tags:
        if t in index:
            counts[index[t]] += 1
    return counts / counts.sum()


def covered(L: np.ndarray) -> np.ndarray:
    return (np.asarray(L) != ABSTAIN).any(axis=1)


def collapse_families(L: np.ndarray, families: Sequence[str], n_tags: int,
                      lf_weight: Sequence[float] | None = None) -> tuple[np.ndarray, list[str]]:
    """``(n, F)`` matrix: each family's plurality tag per ticket (``-1`` if none of its LFs fire)."""
    L = np.asarray(L)
    fam = np.asarray(families)
    names = list(dict.fromkeys(families))
    w = np.ones(L.shape[1]) if lf_weight is None else np.asarray(lf_weight, dtype=np.float64)
    out = np.full((len(L), len(names)), ABSTAIN, dtype=np.int64)
    for f, name in enumerate(names):
        cols = np.flatnonzero(fam == name)
        sub = L[:, cols]
        rows, js = np.nonzero(sub != ABSTAIN)
        if not len(rows):
            continue
        counts = np.zeros((len(L), n_tags))
        # each vote counts 1, plus a tiny dev-precision tie-breaker
        np.add.at(counts, (rows, sub[rows, js]), 1.0 + 1e-3 * np.clip(w[cols[js]], 0, 1))
        hit = counts.max(axis=1) > 0
        out[hit, f] = counts[hit].argmax(axis=1)
    return out, names


def family_dev_precision(Lf_dev: np.ndarray, y_dev: np.ndarray, default: float = 0.7,
                         strength: float = 5.0) -> np.ndarray:
    """Smoothed dev precision of each family's votes (toward ``default`` with ``strength`` pseudo-votes)."""
    fired = Lf_dev != ABSTAIN
    correct = (fired & (Lf_dev == y_dev[:, None])).sum(axis=0)
    return (correct + default * strength) / (fired.sum(axis=0) + strength)


class SourceLabelModel:
    """Snorkel ``LabelModel`` over source families (see module doc). sklearn-like: fit / predict_proba."""

    def __init__(self, n_tags: int, n_epochs: int = 500, lr: float = 0.01, l2: float = 0.0,
                 blas_threads: int = 1, seed: int = 123):
        self.k, self.n_epochs, self.lr, self.l2 = n_tags, n_epochs, lr, l2
        self.blas_threads, self.seed = blas_threads, seed

    def fit(self, L: np.ndarray, families: Sequence[str], prior: np.ndarray | None = None,
            lf_weight: Sequence[float] | None = None, prec_init: Sequence[float] | None = None) -> "SourceLabelModel":
        import torch
        from snorkel.labeling.model import LabelModel
        from threadpoolctl import threadpool_limits

        t0 = time.perf_counter()
        self.families_, self.lf_weight_ = list(families), lf_weight
        Lf, self.family_names_ = collapse_families(L, families, self.k, lf_weight)
        self.prior_ = np.full(self.k, 1.0 / self.k) if prior is None else np.asarray(prior, dtype=np.float64)
        self.model_ = None
        self.method_ = "majority_vote_fallback"
        if Lf.shape[1] >= 3:
            prev = torch.get_num_threads()
            with threadpool_limits(limits=self.blas_threads):
                torch.set_num_threads(self.blas_threads)
                try:
                    lm = LabelModel(cardinality=self.k, verbose=False)
                    kw = {} if prec_init is None else {"prec_init": np.asarray(prec_init, dtype=np.float64)}
                    lm.fit(Lf, class_balance=self.prior_, progress_bar=False, n_epochs=self.n_epochs,
                           lr=self.lr, l2=self.l2, seed=self.seed, **kw)
                finally:
                    torch.set_num_threads(prev)
            self.model_ = lm
            self.method_ = "snorkel_label_model"
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def collapse(self, L: np.ndarray) -> np.ndarray:
        return collapse_families(L, self.families_, self.k, self.lf_weight_)[0]

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """``(n, k)`` distribution over tags; rows with no vote are uniform (see :func:`covered`)."""
        Lf = self.collapse(L)
        if self.model_ is None:
            proba = majority_vote_proba(Lf, self.k)
        else:
            proba = self.model_.predict_proba(Lf)
        proba[~covered(Lf)] = 1.0 / self.k
        return proba


def majority_vote_proba(L: np.ndarray, n_tags: int) -> np.ndarray:
    """snorkel ``MajorityLabelVoter`` probabilities (ties split evenly; no vote -> uniform)."""
    from snorkel.labeling.model import MajorityLabelVoter

    return MajorityLabelVoter(cardinality=n_tags).predict_proba(np.asarray(L, dtype=np.int64))
