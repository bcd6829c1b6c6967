"""Training recipes of the end model's head: which tickets it trains on, with which labels and weights,
and self-training on the unlabeled pool.

A recipe is a dict (built by ``tagger/select.py``): ``weak`` (train on the weak labels), ``dev_weight``
(gold_dev one-hot at this weight; 0 = none), ``min_confidence``, ``prune`` (drop the weak labels
confident learning flags), ``self_train`` rounds with ``self_train_min_confidence`` and
``self_train_labels``, ``lf_boost`` (the LF-vote bonus), ``logit_adjust`` (the prior correction) and ``features``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.end_model import head_proba, lf_boosted, train_head


def one_hot(labels, tags: list[str]) -> np.ndarray:
    index = {t: i for i, t in enumerate(tags)}
    Y = np.zeros((len(labels), len(tags)), dtype=np.float32)
    Y[np.arange(len(labels)), [index[t] for t in labels]] = 1.0
    return Y


def training_set(pool: pd.DataFrame, proba: np.ndarray, mask: np.ndarray, gold_dev: pd.DataFrame,
                 tags: list[str], dev_weight: float, min_conf: float = 0.0, exclude_ids=()):
    """Covered pool tickets with their soft labels, plus gold_dev (one-hot, weighted) replacing any
    weak label the same ticket has; ``exclude_ids`` (held-out dev tickets) are left out entirely.
    Returns (mask of pool rows used, texts, Y, w)."""
    drop = set(exclude_ids) | (set(gold_dev["ticket_id"]) if dev_weight > 0 else set())
    keep = mask & ~pool["ticket_id"].isin(drop).to_numpy()
    if min_conf > 0:
        keep &= proba.max(axis=1) >= min_conf
    texts = pool["text"].to_numpy()[keep].tolist()
    Y = proba[keep].astype(np.float32)
    w = np.ones(len(Y), dtype=np.float32)
    if dev_weight > 0:
        texts += gold_dev["text"].tolist()
        Y = np.vstack([Y, one_hot(gold_dev["tag"], tags)])
        w = np.concatenate([w, np.full(len(gold_dev), dev_weight, dtype=np.float32)])
    return keep, texts, Y, w


def recipe_training_set(recipe: dict, pool: pd.DataFrame, tags: list[str], proba: np.ndarray, mask: np.ndarray,
                        dev: pd.DataFrame, min_conf: float, exclude_ids=(), flagged: np.ndarray | None = None):
    """:func:`training_set` under ``recipe``: weak labels only when it trains on them, less the
    ``flagged`` ones when it prunes, at its minimum confidence and gold_dev weight."""
    use = mask if recipe["weak"] else np.zeros(len(mask), dtype=bool)
    if recipe.get("prune"):
        if flagged is None:
            raise ValueError(f"recipe {recipe['name']} prunes weak labels but no flags were computed")
        use = use & ~flagged
    min_conf = max(min_conf, recipe.get("min_confidence", 0.0))
    return training_set(pool, proba, use, dev, tags, recipe["dev_weight"], min_conf, exclude_ids)


def pseudo_labels(P: np.ndarray, recipe: dict) -> np.ndarray:
    """Self-training targets from predictions ``P``: one-hot argmax (``hard``) or ``P`` itself (``soft``)."""
    if recipe.get("self_train_labels", "soft") == "hard":
        return np.eye(P.shape[1], dtype=np.float32)[P.argmax(axis=1)]
    return P.astype(np.float32)


def label_prior(Y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each tag's share of the training labels (soft labels times weights), with one pseudo-count per
    tag so that a tag without labels has a finite log-prior."""
    mass = (np.asarray(Y, dtype=np.float64) * np.asarray(w, dtype=np.float64)[:, None]).sum(axis=0) + 1.0
    return mass / mass.sum()


def logit_adjusted(b: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """The head's bias less ``tau`` times the log label prior: logit adjustment (Menon et al., "Long-tail
    learning via logit adjustment", ICLR 2021). A softmax head trained on imbalanced labels predicts
    tags in proportion to their training share; the adjusted head targets the balanced error, so a
    tag with few labels (a tag added last month, whose tickets operators mostly tag otherwise) is not
    out-voted by its prior alone. ``tau`` 0 leaves the head as trained."""
    if not tau:
        return b
    return (b - tau * np.log(prior)).astype(b.dtype)


def fit_recipe_head(recipe: dict, X: np.ndarray, Y: np.ndarray, w: np.ndarray, unlabeled: np.ndarray,
                    head_kw: dict, votes_unl: np.ndarray | None = None,
                    init: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train the head; with ``self_train`` rounds, add the head's own confident predictions on the
    ``unlabeled`` embeddings (pool tickets without a training label) as pseudo-labels (one-hot
    argmax, or soft with ``self_train_labels: soft``) and retrain, each round warm-started from the last
    round's head (the loss is convex; on 19k Banking77 tickets a warm round took 9 to 87 loss evaluations
    against about 160 cold, with 99.9% of predictions the same). With ``lf_boost`` the predictions
    behind the pseudo-labels take the LF votes (``votes_unl``) as a logit bonus (:func:`lf_boosted`), so
    self-training may follow a rule the head has not learned yet. ``init`` warm-starts the first head (see
    ``train_head``). With ``logit_adjust`` the returned bias is :func:`logit_adjusted` by the prior of the
    labelled training set (``Y``, ``w``; the pseudo-labels follow the unadjusted head). Returns
    ``(W, b, pseudo_mask)``.
    This is the one self-training implementation; the benchmark scripts import it."""
    W, b = train_head(X, Y, w, init=init, **head_kw)
    m = np.zeros(len(unlabeled), dtype=bool)
    for _ in range(recipe.get("self_train", 0)):
        P = lf_boosted(head_proba(unlabeled, W, b).astype(np.float32), votes_unl, recipe.get("lf_boost", 0.0))
        m = P.max(axis=1) >= recipe.get("self_train_min_confidence", 0.5)
        T = pseudo_labels(P, recipe)
        W, b = train_head(np.vstack([X, unlabeled[m]]), np.vstack([Y, T[m]]),
                          np.concatenate([w, np.ones(int(m.sum()), dtype=np.float32)]), init=(W, b), **head_kw)
    return W, logit_adjusted(b, label_prior(Y, w), recipe.get("logit_adjust", 0.0)), m
