"""The initial LF set, built without any LLM.

- one ``metadata`` LF per tag on the operator tag (``operator_tag == tag``);
- one ``neighbor`` LF per tag: most of the ticket's nearest pool tickets carry that operator tag;
- one ``exemplar`` LF per tag from its gold_dev examples, with the similarity threshold chosen
  leave-one-out on gold_dev (an example is never compared with itself): the lowest threshold
  whose dev precision is at least ``min_precision`` with at least ``min_support`` hits.

Rule generators (the LLM proposer and the offline miner) produce further specs of the same kinds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from labeling_functions.spec import ExemplarParams, LFSpec, MetadataParams, NeighborParams


def operator_lfs(tags: Sequence[str]) -> list[LFSpec]:
    return [LFSpec(id=f"op:{t}", tag=t, kind="metadata",
                   params=MetadataParams(field="operator_tag", equals=t),
                   rationale="The support operator tagged the ticket with this tag (about 80% accurate).",
                   author="system:operator_tags", status="active",
                   provenance={"source": "operator_tag"}) for t in tags]


def neighbor_lfs(tags: Sequence[str], k: int = 10, min_share: float = 0.5) -> list[LFSpec]:
    return [LFSpec(id=f"nn:{t}", tag=t, kind="neighbor",
                   params=NeighborParams(field="operator_tag", equals=t, k=k, min_share=min_share),
                   rationale=f"At least {min_share:.0%} of the {k} most similar pool tickets were tagged '{t}' "
                             "by operators (smooths out individual operator mistakes).",
                   author="system:neighbor", status="active",
                   provenance={"source": "operator_tag", "k": k}) for t in tags]


def loo_similarity(dev_emb: np.ndarray, dev_tags: np.ndarray, tags: Sequence[str]) -> np.ndarray:
    """``S[i, t]`` = max cosine similarity of dev ticket i to the dev examples of tag t, excluding itself."""
    sims = dev_emb.astype(np.float64) @ dev_emb.T.astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    S = np.full((len(dev_emb), len(tags)), -np.inf)
    for k, t in enumerate(tags):
        cols = np.flatnonzero(dev_tags == t)
        if len(cols):
            S[:, k] = sims[:, cols].max(axis=1)
    return S


def exemplar_lfs(gold_dev: pd.DataFrame, dev_emb: np.ndarray, tags: Sequence[str], thresholds: Sequence[float],
                 min_precision: float, min_support: int) -> tuple[list[LFSpec], pd.DataFrame]:
    """Exemplar LFs per tag plus a table of the threshold choice (and why a tag got none)."""
    y = gold_dev["tag"].to_numpy()
    S = loo_similarity(dev_emb, y, tags)
    specs, rows = [], []
    for k, t in enumerate(tags):
        ex = gold_dev[gold_dev["tag"] == t]
        if len(ex) < 2:
            rows.append({"tag": t, "threshold": None, "dev_precision": None, "dev_hits": 0,
                         "decision": "skipped: fewer than 2 gold_dev examples"})
            continue
        chosen = None
        for th in sorted(thresholds):
            fired = S[:, k] >= th
            n = int(fired.sum())
            if n < min_support:
                continue
            prec = float((y[fired] == t).mean())
            if prec >= min_precision:
                chosen = (th, prec, n)
                break
        if chosen is None:
            rows.append({"tag": t, "threshold": None, "dev_precision": None, "dev_hits": 0,
                         "decision": f"skipped: no threshold reaches precision {min_precision} with {min_support} hits"})
            continue
        th, prec, n = chosen
        specs.append(LFSpec(
            id=f"ex:{t}", tag=t, kind="exemplar",
            params=ExemplarParams(texts=ex["text"].tolist(), exemplar_ids=ex["ticket_id"].tolist(), threshold=th),
            rationale=f"Nearest gold_dev example of '{t}' has cosine >= {th} (leave-one-out dev precision "
                      f"{prec:.2f} on {n} hits).",
            author="system:exemplar", status="active",
            provenance={"source": "gold_dev", "threshold_selection": "leave-one-out on gold_dev"}))
        rows.append({"tag": t, "threshold": th, "dev_precision": prec, "dev_hits": n, "decision": "active"})
    return specs, pd.DataFrame(rows)
