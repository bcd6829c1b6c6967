"""Honest recipe selection: an LF written from gold_dev tickets must not score those tickets.

The planted leak: each LF is a keyword written from one gold_dev ticket (cited in its provenance) that
also fires on that ticket's near-duplicates in the pool, labelling them with the ticket's gold tag. The
embeddings carry no signal otherwise, so the only way a weak recipe can beat gold_dev alone in CV is by
scoring the very tickets its LFs were written from. With ``holdout: all`` the selection rewards that;
with ``holdout: unseen`` (the default) it does not."""
import json

import numpy as np
import pandas as pd
import yaml

from labeling_functions.spec import LFSpec, dump_specs
from labeling_functions.store import SEEN_FILE
from tagger.config import RunConfig
from tagger.dataset import Dataset, weak_labeler
from tagger.select import candidate_recipes, feature_sets, seen_dev_mask, select_recipe

TAGS = ["alpha", "beta", "gamma", "delta"]
PER_TAG, DUPS, DIM = 20, 6, 24


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _data(tmp_path):
    rng = np.random.default_rng(0)
    dev = pd.DataFrame({"ticket_id": [f"d{i}" for i in range(PER_TAG * len(TAGS))],
                        "tag": [t for t in TAGS for _ in range(PER_TAG)]})
    dev["text"] = [f"customer: question number {i} tok{i}" for i in range(len(dev))]
    dev["operator_tag"], dev["metadata"] = None, "{}"
    dev_emb = _unit(rng.normal(size=(len(dev), DIM)))
    # half of each tag's dev tickets are "seen": an LF was written from each of them
    seen_ids = [f"d{i}" for i in range(len(dev)) if i % 2 == 0]
    rows, emb = [], []
    for i in range(len(dev)):
        for j in range(DUPS):  # near-duplicates in the pool of every dev ticket
            rows.append({"ticket_id": f"p{i}_{j}", "text": f"customer: question about tok{i} again {j}"})
            emb.append(dev_emb[i] + rng.normal(scale=0.15, size=DIM))
        rows.append({"ticket_id": f"d{i}", "text": dev.loc[i, "text"]})  # the dev ticket itself is in the pool
        emb.append(dev_emb[i])
    for j in range(200):
        rows.append({"ticket_id": f"u{j}", "text": f"customer: something else {j}"})
        emb.append(rng.normal(size=DIM))
    pool = pd.DataFrame(rows)
    pool["operator_tag"], pool["metadata"] = None, "{}"
    pool_emb = _unit(np.array(emb))
    lfs = [LFSpec(id=f"llm:{dev.loc[i, 'tag']}:tok{i}", tag=dev.loc[i, "tag"], kind="keyword",
                  params={"any": [f"tok{i}"]}, status="active", author="openai:test",
                  provenance={"round": 1, "motivating_tickets": [f"d{i}"]}) for i in range(len(dev)) if f"d{i}" in seen_ids]
    dump_specs(lfs, tmp_path / "lfs" / "generated_lfs.yaml")
    ds = Dataset(TAGS, pd.DataFrame({"tag": TAGS, "description": TAGS}), pool, dev, pd.DataFrame())
    return ds, pool_emb, dev_emb, seen_ids


def _cfg(tmp_path, holdout):
    raw = {"name": "leak", "dataset": {"pool": "p.csv", "gold_dev": "d.csv", "gold_test": "t.csv", "tags": "x.csv",
                                       "use_operator_tags": False},
           "lfs": {"operator_tags": False, "neighbor": {"enabled": False}, "exemplar": {"enabled": False},
                   "spec_dirs": [str(tmp_path / "lfs")]},
           "label_model": {"kind": "majority_vote"},
           "end_model": {"select": {"folds": 5, "holdout": holdout, "gold_dev_weights": [1.0], "min_confidences": [0.0],
                                    "prune_noisy": False, "self_train": False, "features": ["embedding"], "logit_adjust": [0.0],
                                    "drop_margin": None}}}  # every recipe scores every fold: no racing here
    return RunConfig.model_validate(yaml.safe_load(json.dumps(raw)))


def _select(tmp_path, holdout):
    cfg = _cfg(tmp_path, holdout)
    ds, pool_emb, dev_emb, seen_ids = _data(tmp_path)
    labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, encoder=None)
    recipes = candidate_recipes(cfg)
    assert {r["name"] for r in recipes} == {"weak+dev_w1", "dev_only"}
    seen = seen_dev_mask(cfg, ds, labeler.fixed)
    assert set(ds.gold_dev["ticket_id"][seen]) == set(seen_ids)  # read from the LFs' provenance
    sel = select_recipe(cfg, ds, labeler, feature_sets(recipes, ds, pool_emb, dev_emb), recipes,
                        {"l2": 1e-4, "max_iter": 200, "seed": 0}, seen=seen)
    return {r["recipe"]: r["cv_macro_f1_mean"] for r in sel["table"]}, sel


def test_selection_no_longer_rewards_a_leaking_lf(tmp_path):
    leaky, sel_all = _select(tmp_path, "all")
    # scoring every dev ticket, the leak makes the weak recipe look far better than gold_dev alone
    assert sel_all["chosen"]["name"] == "weak+dev_w1"
    assert leaky["weak+dev_w1"] - leaky["dev_only"] > 0.2
    honest, sel = _select(tmp_path, "unseen")
    # scoring only tickets no LF was written from, the advantage is gone
    assert sel["scored_tickets"] == PER_TAG * len(TAGS) // 2 and sel["never_scored_seen_tickets"] == PER_TAG * len(TAGS) // 2
    assert honest["weak+dev_w1"] - honest["dev_only"] < 0.1
    assert honest["weak+dev_w1"] < leaky["weak+dev_w1"] - 0.2


def test_seen_tickets_come_from_the_loops_record_too(tmp_path):
    cfg = _cfg(tmp_path, "unseen")
    ds, *_ = _data(tmp_path)
    (tmp_path / "lfs" / SEEN_FILE).write_text(json.dumps({"ticket_ids": ["d1", "d3"]}))
    seen = seen_dev_mask(cfg, ds, [])
    assert set(ds.gold_dev["ticket_id"][seen]) == {"d1", "d3"}
    gate = np.zeros(len(ds.gold_dev), dtype=bool)
    gate[5] = True
    assert set(ds.gold_dev["ticket_id"][seen_dev_mask(cfg, ds, [], gate)]) == {"d1", "d3", "d5"}
