"""Drift statistics of a later window of tickets against a reference window (functional core).

Each function takes the two windows' numbers and returns one statistic; ``tagger/drift.py`` puts them
together per window and decides the alerts.

- :func:`psi`: the population stability index of a distribution (the predicted tag mix);
- :func:`chi2_pvalue`: the chi-square test of the same counts (a p-value that accounts for sample size);
- :func:`confidence_shift`: the Kolmogorov-Smirnov distance between the model's confidence distributions
  (and its p-value);
- :func:`domain_auc`: how well a linear classifier tells the two windows' embeddings apart.
"""
from __future__ import annotations

import numpy as np

PSI_EPS = 1e-4  # a bin empty in one window counts as this share, so the index stays finite


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = PSI_EPS) -> float:
    """``sum (c - r) * ln(c / r)`` over bins of the two windows' shares. Common reading: below 0.1 no
    shift, 0.1-0.25 moderate, above 0.25 large."""
    r = np.asarray(ref_counts, dtype=float)
    c = np.asarray(cur_counts, dtype=float)
    if r.shape != c.shape:
        raise ValueError(f"the windows' counts have different shapes: {r.shape} and {c.shape}")
    if r.sum() <= 0 or c.sum() <= 0:
        raise ValueError("a window with no tickets has no distribution to compare")
    r = np.clip(r / r.sum(), eps, None)
    c = np.clip(c / c.sum(), eps, None)
    return float(((c - r) * np.log(c / r)).sum())


def chi2_pvalue(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """p-value of the chi-square test that both windows draw from one distribution (bins empty in both
    windows are left out)."""
    from scipy.stats import chi2_contingency

    table = np.vstack([ref_counts, cur_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table)[1])


def confidence_shift(ref_conf: np.ndarray, cur_conf: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov distance (0 to 1) between the two windows' top-tag confidences, and its p-value."""
    from scipy.stats import ks_2samp

    if len(ref_conf) == 0 or len(cur_conf) == 0:
        raise ValueError("a window with no tickets has no confidences to compare")
    res = ks_2samp(ref_conf, cur_conf)
    return float(res.statistic), float(res.pvalue)


def domain_auc(ref_emb: np.ndarray, cur_emb: np.ndarray, max_rows: int = 2000, folds: int = 5,
               seed: int = 0) -> float:
    """Cross-validated ROC AUC of a logistic regression that tells reference tickets from current ones
    by their embeddings (a seeded sample of at most ``max_rows`` per window, balanced). 0.5: the windows
    look alike; 1.0: every ticket gives its window away. Unlike a distance between centroids, it sees
    any change a linear view of the embedding can, and its scale does not depend on the encoder."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(seed)
    n = min(len(ref_emb), len(cur_emb), max_rows)
    if n < folds:
        raise ValueError(f"domain_auc needs at least {folds} tickets in each window, not {n}")
    X = np.vstack([ref_emb[rng.choice(len(ref_emb), n, replace=False)],
                   cur_emb[rng.choice(len(cur_emb), n, replace=False)]])
    y = np.r_[np.zeros(n), np.ones(n)]
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(LogisticRegression(C=1.0, max_iter=1000), X, y, cv=cv, scoring="roc_auc").mean())
