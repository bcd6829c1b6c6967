"""How a window of tickets meets the LFs: firing rates, conflicts, abstains, and their shift.

The statistics of drift watch that need only a label matrix (``tagger/drift.py`` adds the model's).
An LF whose firing rate halves or doubles between windows is the early sign that the wording of the
tickets changed (a renamed product, a new template line); tickets that no rule covers grow when new
reasons for contact appear.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labeling_functions.spec import LFSpec

RULE_KINDS = ("keyword", "regex", "exemplar", "neighbor")  # what reads the text (not the operator tag)


def firing_rates(L: np.ndarray) -> np.ndarray:
    """Share of tickets each LF votes on (``L``: tickets x LFs, -1 = abstain)."""
    if L.shape[0] == 0:
        raise ValueError("a window with no tickets has no firing rates")
    return (L != -1).mean(axis=0)


def window_lf_stats(L: np.ndarray, specs: Sequence[LFSpec]) -> dict:
    """Per window: ``abstain_rate`` (no source votes at all), ``conflict_rate`` (sources disagree),
    ``uncovered_by_rules`` (no text rule votes; operator tags and metadata LFs do not count)."""
    if L.shape[1] != len(specs):
        raise ValueError(f"the label matrix has {L.shape[1]} columns for {len(specs)} LFs")
    voted = L != -1
    hi = np.where(voted, L, -1).max(axis=1)
    lo = np.where(voted, L, np.iinfo(L.dtype).max if np.issubdtype(L.dtype, np.integer) else np.inf).min(axis=1)
    rules = np.array([s.kind in RULE_KINDS for s in specs], dtype=bool)
    return {"tickets": int(L.shape[0]), "abstain_rate": float((~voted.any(axis=1)).mean()),
            "conflict_rate": float((voted.any(axis=1) & (hi != lo)).mean()),
            "uncovered_by_rules": float((~voted[:, rules].any(axis=1)).mean()) if rules.any() else 1.0}


def rate_shift(ref_rates: np.ndarray, cur_rates: np.ndarray, specs: Sequence[LFSpec], n_ref: int, n_cur: int,
               min_rate: float = 0.005, factor: float = 2.0, z: float = 3.29, top: int = 10) -> dict:
    """LFs whose firing rate moved by at least ``factor`` (up or down) between windows of ``n_ref`` and
    ``n_cur`` tickets, and by more than chance: the two-proportion z statistic passes ``z`` (3.29: p < 0.001,
    two-sided), so a rule that fires on a handful of tickets does not alert on a resample. Among LFs that fire
    on at least ``min_rate`` of either window: ``lf_shift_share`` (the share that moved) and the ``top`` of
    them by the size of the move, each with both rates."""
    r, c = np.asarray(ref_rates, float), np.asarray(cur_rates, float)
    live = np.maximum(r, c) >= min_rate
    ratio = np.log2((c + min_rate / 10) / (r + min_rate / 10))
    pooled = (r * n_ref + c * n_cur) / (n_ref + n_cur)
    se = np.sqrt(np.clip(pooled * (1 - pooled), 1e-12, None) * (1 / n_ref + 1 / n_cur))
    moved = live & (np.abs(ratio) >= np.log2(factor)) & (np.abs(c - r) / se > z)
    order = [i for i in np.argsort(-np.abs(ratio), kind="stable") if moved[i]][:top]
    return {"lfs_compared": int(live.sum()), "lfs_shifted": int(moved.sum()),
            "lf_shift_share": float(moved.sum() / live.sum()) if live.any() else 0.0,
            "top_shifted": [{"lf": specs[i].id, "tag": specs[i].tag, "reference_rate": round(float(r[i]), 4),
                             "rate": round(float(c[i]), 4)} for i in order]}
