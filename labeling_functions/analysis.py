"""Per-LF statistics (snorkel's definitions, vectorized): coverage, overlap, conflict and, against
gold labels, correct / incorrect hits and empirical precision. ``LFAnalysis`` gives the same
coverage/overlap/conflict numbers (a test checks)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from labeling_functions import ABSTAIN
from labeling_functions.spec import LFSpec


def lf_summary(L: np.ndarray, specs: Sequence[LFSpec], tags: Sequence[str], Y: np.ndarray | None = None,
               L_dev: np.ndarray | None = None) -> pd.DataFrame:
    """One row per LF. ``L`` is the pool matrix; dev columns use ``L_dev``/``Y`` (gold tag indices)."""
    fired = L != ABSTAIN
    n = max(len(L), 1)
    n_fired_row = fired.sum(axis=1)
    coverage = fired.sum(axis=0) / n
    overlaps = (fired & (n_fired_row[:, None] > 1)).sum(axis=0) / n
    # conflict: the LF fires and some other LF fires with a different label
    conflicts = np.zeros(L.shape[1])
    if L.size:
        row_min = np.where(fired, L, np.iinfo(np.int16).max).min(axis=1)
        row_max = np.where(fired, L, -1).max(axis=1)
        multi_label = (row_min != row_max) & (n_fired_row > 1)
        conflicts = (fired & multi_label[:, None]).sum(axis=0) / n
    df = pd.DataFrame({
        "id": [s.id for s in specs], "tag": [s.tag for s in specs], "kind": [s.kind for s in specs],
        "author": [s.author for s in specs], "status": [s.status for s in specs],
        "coverage": coverage, "overlaps": overlaps, "conflicts": conflicts,
        "hits": fired.sum(axis=0),
    })
    if Y is not None:
        Ld = L if L_dev is None else L_dev
        fd = Ld != ABSTAIN
        correct = (fd & (Ld == Y[:, None])).sum(axis=0)
        incorrect = fd.sum(axis=0) - correct
        df["dev_correct"] = correct
        df["dev_incorrect"] = incorrect
        with np.errstate(invalid="ignore", divide="ignore"):
            df["dev_precision"] = np.where(correct + incorrect > 0, correct / np.maximum(correct + incorrect, 1), np.nan)
        index = {t: i for i, t in enumerate(tags)}
        pos = np.array([(Y == index[s.tag]).sum() for s in specs])
        df["dev_recall"] = np.where(pos > 0, correct / np.maximum(pos, 1), np.nan)
    return df


def sample_hits(specs: Sequence[LFSpec], L: np.ndarray, L_dev: np.ndarray, pool: pd.DataFrame,
                gold_dev: pd.DataFrame, n: int = 3) -> list[dict[str, pd.DataFrame]]:
    """Per LF, up to ``n`` tickets it fires on: ``correct`` and ``incorrect`` on gold_dev (with their
    gold ``tag``) and ``unlabeled`` pool tickets (not in gold_dev); frames of ticket_id, text (and tag)."""
    y = gold_dev["tag"].to_numpy()
    unl = ~pool["ticket_id"].isin(gold_dev["ticket_id"]).to_numpy()
    out = []
    for j, sp in enumerate(specs):
        fired = L_dev[:, j] != ABSTAIN
        out.append({"correct": gold_dev.loc[fired & (y == sp.tag), ["ticket_id", "text"]].head(n),
                    "incorrect": gold_dev.loc[fired & (y != sp.tag), ["ticket_id", "tag", "text"]].head(n),
                    "unlabeled": pool.loc[(L[:, j] != ABSTAIN) & unl, ["ticket_id", "text"]].head(n)})
    return out


def label_matrix_summary(L: np.ndarray) -> dict:
    fired = L != ABSTAIN
    any_vote = fired.any(axis=1)
    return {"tickets": int(len(L)), "lfs": int(L.shape[1]), "covered": int(any_vote.sum()),
            "coverage": float(any_vote.mean()) if len(L) else 0.0,
            "mean_votes_per_ticket": float(fired.sum(axis=1).mean()) if len(L) else 0.0}
