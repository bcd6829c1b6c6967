"""Baselines and the final scoring: the only step that reads gold_test.

The baselines train the same linear head on the frozen embeddings: gold_dev alone, the operator tags
alone, and majority vote over the LF families (the pool ones on at most ``end_model.aux_sample`` tickets).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from models.end_model import head_proba, train_head
from models.evaluate import score
from models.recipes import one_hot
from tagger.config import RunConfig
from tagger.dataset import Dataset, load_gold_test

log = logging.getLogger("tagger")


def train_baselines(cfg: RunConfig, ds: Dataset, pool_emb: np.ndarray, dev_emb: np.ndarray, mv: np.ndarray,
                    mask: np.ndarray, head_kw: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (W, b)}`` of each baseline in ``evaluation.baselines`` that the data allows. The pool
    baselines train on a seeded pool sample of at most ``end_model.aux_sample`` tickets."""
    from data.sampling import sample_rows

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    wanted = cfg.evaluation.baselines
    sample = np.zeros(len(ds.pool), dtype=bool)
    sample[sample_rows(len(ds.pool), cfg.end_model.aux_sample, cfg.seed)] = True
    mask = mask & sample
    if "gold_dev" in wanted:
        out["baseline_gold_dev_only"] = train_head(dev_emb, one_hot(ds.gold_dev["tag"], ds.tags), **head_kw)
    if "operator" in wanted and cfg.dataset.use_operator_tags:
        has = ds.pool["operator_tag"].notna().to_numpy() & sample
        if has.any():
            out["baseline_operator_tags"] = train_head(pool_emb[has], one_hot(ds.pool["operator_tag"][has], ds.tags),
                                                       **head_kw)
    if "majority_vote" in wanted and mask.any():
        out["baseline_majority_vote"] = train_head(pool_emb[mask], mv[mask].astype(np.float32), **head_kw)
    return out


def score_on_gold_test(cfg: RunConfig, ds: Dataset, model, encoder, baselines: dict,
                       progress: bool = True) -> tuple[dict, pd.DataFrame]:
    """Load gold_test (here, and nowhere else) and score the model and the baselines on it: per-tag
    P/R/F1, macro/micro-F1, confusions and the fees task. Returns ``(results, quarantined test rows)``."""
    test, q = load_gold_test(cfg, ds)
    log.info("final scoring on %d gold_test tickets", len(test))
    texts = test["text"].tolist()
    fees = ds.tag_table.loc[ds.tag_table["fees_group"], "tag"].tolist() if "fees_group" in ds.tag_table else None
    test_emb = encoder(texts)
    P = model.predict_proba(texts, batch_size=cfg.end_model.batch_size, progress=progress) \
        if cfg.end_model.mode == "finetune" else model.proba(texts, test_emb)
    results = {"model": score(test["tag"], [ds.tags[i] for i in P.argmax(1)], ds.tags, fees)}
    for name, (W, b) in baselines.items():
        pred = head_proba(test_emb, W, b).argmax(1)
        results[name] = score(test["tag"], [ds.tags[i] for i in pred], ds.tags, fees)
    return results, q
