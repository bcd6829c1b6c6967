"""Recipe selection that scales: a pool sample for the CV heads and confident learning, and racing."""
import json

import numpy as np
import yaml

from data.sampling import sample_rows
from models.end_model import head_proba, soft_cross_entropy, train_head
from tagger.config import RunConfig
from tagger.dataset import weak_labeler
from tagger.select import candidate_recipes, feature_sets, fit_lexical, race, select_recipe
from tests.test_selection_leak import _cfg, _data


def test_pool_sample_rows_is_seeded_sorted_and_capped():
    assert np.array_equal(sample_rows(50, 100, 0), np.arange(50))
    assert np.array_equal(sample_rows(50, None, 0), np.arange(50))
    a, b = sample_rows(1000, 100, 3), sample_rows(1000, 100, 3)
    assert np.array_equal(a, b) and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, sample_rows(1000, 100, 4))


def test_racing_drops_only_clear_losers_between_the_first_folds_and_the_last():
    recipes = [{"name": n} for n in ("a", "b", "c")]
    scores = {"a": [0.90, 0.92], "b": [0.89, 0.91], "c": [0.80, 0.85]}
    assert race(recipes, scores, 1, 5, 2, 0.03) == (recipes, [])  # too early
    kept, out = race(recipes, scores, 2, 5, 2, 0.03)
    assert [r["name"] for r in kept] == ["a", "b"] and [r["name"] for r in out] == ["c"]
    assert race(recipes, scores, 5, 5, 2, 0.03) == (recipes, [])  # the last fold decides by full means
    assert race(recipes, scores, 2, 5, 2, None) == (recipes, [])  # racing off


def _select(tmp_path, **select):
    cfg = _cfg(tmp_path, "all")
    raw = json.loads(cfg.model_dump_json())
    raw["end_model"]["select"].update(select)
    cfg = RunConfig.model_validate(yaml.safe_load(json.dumps(raw)))
    ds, pool_emb, dev_emb, _ = _data(tmp_path)
    labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, encoder=None)
    recipes = candidate_recipes(cfg)
    lexical = fit_lexical(cfg, ds.pool["text"]) if "embedding+char" in cfg.end_model.select.features else None
    return select_recipe(cfg, ds, labeler, feature_sets(recipes, ds, pool_emb, dev_emb, lexical), recipes,
                         {"l2": 1e-4, "max_iter": 200, "seed": 0}), len(ds.pool)


def test_selection_races_and_trains_its_heads_on_a_pool_sample(tmp_path):
    sel, n_pool = _select(tmp_path, pool_sample=600, drop_margin=0.03, drop_after=2, logit_adjust=[0.0])
    assert sel["pool_sample"] == 600 < n_pool
    rows = {r["recipe"]: r for r in sel["table"]}
    # with the planted leak scored ("all"), gold_dev alone trails the weak recipe by far more than the margin
    assert rows["dev_only"]["dropped_after_fold"] == 2 and len(rows["dev_only"]["folds"]) == 2
    assert "dropped_after_fold" not in rows["weak+dev_w1"] and len(rows["weak+dev_w1"]["folds"]) == 5
    assert sel["chosen"]["name"] == "weak+dev_w1" and sel["dropped_recipes"] == 1
    full, _ = _select(tmp_path, pool_sample=None, drop_margin=None, logit_adjust=[0.0])
    assert full["pool_sample"] == n_pool and full["dropped_recipes"] == 0
    assert all(len(r["folds"]) == 5 for r in full["table"])
    assert full["chosen"]["name"] == sel["chosen"]["name"]


def test_a_warm_started_head_stays_at_the_optimum_it_starts_from():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 600)
    X = (rng.normal(size=(600, 16)) + 1.5 * np.eye(5, 16)[y]).astype(np.float32)
    Y = np.eye(5, dtype=np.float32)[y]
    W, b = train_head(X, Y, l2=1e-3, max_iter=500)
    import torch

    def loss(W, b):
        z = torch.as_tensor(X @ W.T + b)
        return float(soft_cross_entropy(z, torch.as_tensor(Y))) + 0.5e-3 * float((W * W).sum())

    cold = train_head(X, Y, l2=1e-3, max_iter=3)
    warm = train_head(X, Y, l2=1e-3, max_iter=3, init=(W, b))
    assert loss(*warm) <= loss(W, b) + 1e-5 < loss(*cold) - 1e-3  # 3 steps from the optimum stay there
    assert (head_proba(X, *warm).argmax(1) == head_proba(X, W, b).argmax(1)).all()


def test_confident_learning_on_a_sample_still_finds_the_flipped_labels():
    from models.noise import noisy_label_flags, out_of_fold_proba

    rng = np.random.default_rng(0)
    true = np.repeat(np.arange(3), 400)
    X = (np.eye(3, 6, dtype=np.float32) * 3)[true] + rng.normal(scale=0.5, size=(1200, 6)).astype(np.float32)
    noisy = true.copy()
    flip = rng.choice(1200, 120, replace=False)
    noisy[flip] = (true[flip] + 1) % 3
    kw = {"l2": 1e-3, "max_iter": 200, "seed": 0}
    assert np.array_equal(out_of_fold_proba(X, noisy, 3, kw, max_rows=1200), out_of_fold_proba(X, noisy, 3, kw))
    P = out_of_fold_proba(X, noisy, 3, kw, max_rows=300)
    assert np.allclose(P.sum(1), 1, atol=1e-4)  # rows outside the sample: the mean of the fold heads
    flags = noisy_label_flags(X, noisy, 3, kw, max_rows=300)
    clean = np.setdiff1d(np.arange(1200), flip)
    assert flags[flip].mean() >= 0.8 and flags[clean].mean() <= 0.05, (flags[flip].mean(), flags[clean].mean())


def test_a_pool_sample_labeler_votes_as_the_whole_pool_does_on_its_rows(tmp_path):
    cfg = _cfg(tmp_path, "all")
    ds, pool_emb, dev_emb, _ = _data(tmp_path)
    labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, encoder=None)
    rows = sample_rows(len(ds.pool), 300, 0)
    dev = np.ones(len(ds.gold_dev), dtype=bool)
    full, sub = labeler(dev), labeler.subset(rows)(dev)
    assert np.array_equal(sub.L, full.L[rows]) and np.array_equal(sub.L_dev, full.L_dev)
    assert sub.proba.shape == (300, len(ds.tags)) and len(labeler.pool) == len(ds.pool) > 300
    # its own label model, fitted on the sample alone, mostly agrees with the whole pool's
    assert (sub.proba.argmax(1) == full.proba[rows].argmax(1)).mean() >= 0.9


def test_warm_started_self_training_ends_where_cold_rounds_do():
    from models.recipes import fit_recipe_head, pseudo_labels

    rng = np.random.default_rng(1)
    y = rng.integers(0, 6, 1500)
    X = (rng.normal(size=(1500, 24)) + 1.2 * np.eye(6, 24)[y]).astype(np.float32)
    lab, unl = np.arange(300), np.arange(300, 1500)
    Y, w = np.eye(6, dtype=np.float32)[y[lab]], np.ones(300, dtype=np.float32)
    kw = {"l2": 1e-3, "max_iter": 300, "seed": 0}
    recipe = {"self_train": 3, "self_train_min_confidence": 0.5, "self_train_labels": "hard"}
    W, b, m = fit_recipe_head(recipe, X[lab], Y, w, X[unl], kw)
    Wc, bc = train_head(X[lab], Y, w, **kw)  # the same rounds, each from zero
    for _ in range(3):
        P = head_proba(X[unl], Wc, bc)
        mc = P.max(1) >= 0.5
        Wc, bc = train_head(np.vstack([X[lab], X[unl][mc]]), np.vstack([Y, pseudo_labels(P, recipe)[mc]]),
                            np.concatenate([w, np.ones(int(mc.sum()), dtype=np.float32)]), **kw)
    assert m.sum() > 600 and (mc == m).mean() >= 0.99
    assert (head_proba(X, W, b).argmax(1) == head_proba(X, Wc, bc).argmax(1)).mean() >= 0.99


def test_the_refinement_loop_runs_on_the_aux_sample_and_leaves_the_whole_pool_labeler_alone(tmp_path, monkeypatch):
    """Above ``end_model.aux_sample`` pool tickets the loop (votes, label model, per-round model, miner, gate)
    sees the seeded sample alone; the run's own labeler still labels the whole pool."""
    import tagger.refine as tr

    ds, pool_emb, dev_emb, _ = _data(tmp_path)
    seen = []
    real = tr.run_loop

    def spy(ds_, labeler_, pool_emb_, *args, **kw):
        seen.append((ds_.pool["ticket_id"].tolist(), labeler_.pool["ticket_id"].tolist(), len(pool_emb_),
                     labeler_.L_fixed.copy()))
        return real(ds_, labeler_, pool_emb_, *args, **kw)

    monkeypatch.setattr(tr, "run_loop", spy)
    for aux in (300, None):
        raw = json.loads(_cfg(tmp_path, "all").model_dump_json())
        raw["end_model"]["aux_sample"] = aux
        raw["refine"].update({"enabled": True, "mode": "auto", "max_rounds": 1})
        cfg = RunConfig.model_validate(raw)
        labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, encoder=None)
        tr.refine(cfg, ds, labeler, pool_emb, dev_emb, tmp_path / f"refine{aux}")
        assert len(labeler.pool) == len(ds.pool)  # the caller's labeler is not narrowed
    (ids, lab_ids, n_emb, L), (all_ids, _, n_all, L_all) = seen
    rows = sample_rows(len(ds.pool), 300, 0)
    assert len(ids) == n_emb == 300 < len(ds.pool) and ids == lab_ids == ds.pool["ticket_id"].iloc[rows].tolist()
    assert all_ids == ds.pool["ticket_id"].tolist() and n_all == len(ds.pool)
    assert np.array_equal(L, L_all[rows])  # the sample's votes are the whole pool's on those rows


def test_prior_corrected_variants_are_scored_without_fitting_another_head(tmp_path, monkeypatch):
    from tagger import select

    fits = []
    real = select.fit_recipe_head
    monkeypatch.setattr(select, "fit_recipe_head", lambda r, *a, **k: fits.append(r["name"]) or real(r, *a, **k))
    both, _ = _select(tmp_path, pool_sample=600, drop_margin=None, logit_adjust=[0.0, 1.0], folds=3)
    rows = {r["recipe"]: r for r in both["table"]}
    plain = [name for name in rows if not name.endswith("+adj1")]
    assert len(rows) == 2 * len(plain) and "weak+dev_w1+adj1" in rows
    assert sorted(fits) == sorted(plain * 3)  # 3 folds, one head per plain recipe: the +adj1 variants reused it
    assert all(len(r["folds"]) == 3 for r in rows.values())


def test_confident_learning_flags_once_per_fold_on_the_richest_features_for_every_prune_recipe(tmp_path, monkeypatch):
    from tagger import select

    calls = []
    real = select.weak_label_flags
    monkeypatch.setattr(select, "weak_label_flags",
                        lambda X, *a, **k: calls.append((X.shape[1], a[3])) or real(X, *a, **k))
    sel, _ = _select(tmp_path, pool_sample=600, drop_margin=None, prune_noisy=True, prune_folds=2, folds=3,
                     features=["embedding", "embedding+char"])
    rows = {r["recipe"] for r in sel["table"]}
    assert {"weak+dev_w1+prune", "weak+dev_w1+prune+char"} <= rows
    from tests.test_selection_leak import DIM as emb_dim  # the lexical block is appended to the embedding
    assert len(calls) == 3 and all(d > emb_dim and folds == 2 for d, folds in calls), calls
    assert select.prune_feature_set({"embedding": 0}) == "embedding"
