"""Training recipes: the candidate grid, self-training, confident-learning pruning (against cleanlab)
and the label-issue review list."""
import numpy as np
import pytest

from tagger.config import ConfigError, load_config
from tests.test_config import BASE, write


def test_candidate_recipes_grid_and_self_training_rule(tmp_path):

    from models.recipes import fit_recipe_head
    from tagger.select import candidate_recipes

    cfg = load_config(write(tmp_path, BASE))
    names = [r["name"] for r in candidate_recipes(cfg, unlabeled_share=0.5)]
    assert "weak+dev_w5+conf0.5" in names and "weak+dev_w5+conf0.5+self_train" in names
    assert "dev_only+self_train" in names and len(names) == len(set(names)) == 104
    # each weak recipe also without the weak labels confident learning flags; dev-only has none to prune
    assert "weak+dev_w20+conf0.5+prune" in names and "weak+dev_w1+prune+self_train+char" in names
    assert not [n for n in names if n.startswith("dev_only") and "prune" in n]
    no_prune = load_config(write(tmp_path, BASE + "end_model: {select: {prune_noisy: false}}\n"))
    assert len(candidate_recipes(no_prune, unlabeled_share=0.5)) == 56
    # each recipe also prior-corrected (logit adjustment), sharing its head: same fit key, another name
    from tagger.select import fit_key

    by_name = {r["name"]: r for r in candidate_recipes(cfg, unlabeled_share=0.5)}
    adj = by_name["weak+dev_w5+conf0.5+char+adj1"]
    assert adj["logit_adjust"] == 1.0 and fit_key(adj) == fit_key(by_name["weak+dev_w5+conf0.5+char"])
    assert "logit_adjust" not in by_name["weak+dev_w5+conf0.5+char"]
    # every recipe on both head feature sets: the embedding alone and with the char n-gram block
    assert "weak+dev_w5+conf0.5+char" in names and "dev_only+self_train+char" in names
    covered_pool = [r["name"] for r in candidate_recipes(cfg, unlabeled_share=0.01)]
    # almost no unlabeled pool: no self-training variants of weak recipes, dev-only keeps its own
    assert [n for n in covered_pool if "+self_train" in n] == ["dev_only+self_train", "dev_only+self_train+adj1",
                                                               "dev_only+self_train+char", "dev_only+self_train+char+adj1"]
    # the fine-tuned classifier reads the encoder only, so finetune mode never gets +char recipes, and a
    # fine-tune would learn the prior back, so it gets no +adj ones either
    ft = load_config(write(tmp_path, BASE + "end_model: {mode: finetune}\n"))
    assert all(r["features"] == "embedding" for r in candidate_recipes(ft)) and len(candidate_recipes(ft)) == 26
    assert not [r for r in candidate_recipes(ft) if "logit_adjust" in r]
    ft_adj = load_config(write(tmp_path, BASE + "end_model: {mode: finetune, select: {logit_adjust: [1]}}\n"))
    assert [r["name"] for r in candidate_recipes(ft_adj)] == [r["name"] for r in candidate_recipes(ft)]
    with pytest.raises(ConfigError, match="logit_adjust"):
        load_config(write(tmp_path, BASE + "end_model: {select: {logit_adjust: [-1]}}\n"))
    with pytest.raises(ConfigError, match="embedding\\+char needs mode: frozen"):
        load_config(write(tmp_path, BASE + "end_model: {mode: finetune, features: embedding+char, select: {enabled: false}}\n"))
    with pytest.raises(ConfigError, match="must include embedding"):
        load_config(write(tmp_path, BASE + "end_model: {mode: finetune, select: {features: [embedding+char]}}\n"))
    # hard pseudo-labels: the retrained head sees one-hot targets for the unlabeled points
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    Y = np.eye(2, dtype=np.float32)[(X[:, 0] > 0).astype(int)]
    U = rng.normal(size=(30, 4)).astype(np.float32)
    recipe = {"self_train": 2, "self_train_min_confidence": 0.0, "self_train_labels": "hard"}
    W, b, m = fit_recipe_head(recipe, X, Y, np.ones(40, np.float32), U, {"l2": 1e-3, "max_iter": 50, "seed": 0})
    assert m.all() and W.shape == (2, 4)


def test_logit_adjustment_lifts_a_rare_tags_recall_on_balanced_tickets():
    """A head trained where one tag has 5% of the labels under-predicts it on a balanced test set; the
    prior-corrected head (the +adj1 recipes) finds more of it and scores a higher macro-F1."""
    from sklearn.metrics import f1_score

    from models.end_model import head_proba
    from models.recipes import fit_recipe_head, label_prior, logit_adjusted

    rng = np.random.default_rng(0)

    def draw(n_per_tag):
        y = np.repeat(np.arange(3), n_per_tag)
        return (np.eye(3, 4)[y] * 1.2 + rng.normal(size=(len(y), 4))).astype(np.float32), y

    X, y = draw([600, 600, 60])
    Y, w = np.eye(3, dtype=np.float32)[y], np.ones(len(y), np.float32)
    Xt, yt = draw([400, 400, 400])
    kw = {"l2": 1e-3, "max_iter": 200, "seed": 0}
    W, b, _ = fit_recipe_head({}, X, Y, w, X[:0], kw)
    W1, b1, _ = fit_recipe_head({"logit_adjust": 1.0}, X, Y, w, X[:0], kw)
    assert np.array_equal(W, W1) and np.allclose(b1, b - np.log(label_prior(Y, w)), atol=1e-5)
    assert np.allclose(label_prior(Y, w), (np.array([600, 600, 60]) + 1) / 1263)
    plain, adjusted = head_proba(Xt, W, b).argmax(1), head_proba(Xt, W1, b1).argmax(1)
    assert (adjusted[yt == 2] == 2).mean() > (plain[yt == 2] == 2).mean() + 0.2
    assert f1_score(yt, adjusted, average="macro") > f1_score(yt, plain, average="macro") + 0.05
    assert logit_adjusted(b, label_prior(Y, w), 0.0) is b


def test_confident_learning_flags_flipped_labels_and_pruning_needs_flags():
    import pandas as pd

    from models.noise import noisy_label_flags
    from models.recipes import recipe_training_set

    rng = np.random.default_rng(0)
    centers = np.eye(3, 6, dtype=np.float32) * 3
    true = np.repeat(np.arange(3), 100)
    X = centers[true] + rng.normal(scale=0.5, size=(300, 6)).astype(np.float32)
    noisy = true.copy()
    flip = rng.choice(300, 30, replace=False)
    noisy[flip] = (true[flip] + 1) % 3
    flags = noisy_label_flags(X, noisy, 3, {"l2": 1e-3, "max_iter": 200, "seed": 0})
    caught = flags[flip].mean()
    false_alarms = flags[np.setdiff1d(np.arange(300), flip)].mean()
    assert caught >= 0.8 and false_alarms <= 0.05, (caught, false_alarms)
    # the final model's flags leave gold_dev tickets alone when the recipe trains on gold_dev
    from tagger.select import prune_flags

    class Pool300:
        pool = pd.DataFrame({"ticket_id": [f"t{i}" for i in range(300)]})
        gold_dev = pd.DataFrame({"ticket_id": [f"t{i}" for i in flip[:10]]})

    proba = np.eye(3, dtype=np.float32)[noisy]
    kw = {"l2": 1e-3, "max_iter": 200, "seed": 0}
    with_dev = prune_flags({"dev_weight": 5.0}, Pool300, X, proba, np.ones(300, bool), kw, 5, 0)
    weak_only = prune_flags({"dev_weight": 0.0}, Pool300, X, proba, np.ones(300, bool), kw, 5, 0)
    assert weak_only[flip[:10]].any() and not with_dev[flip[:10]].any()
    assert (with_dev == (weak_only & ~np.isin(np.arange(300), flip[:10]))).all()
    # too few rows for the folds: nothing is flagged rather than a guess
    assert not noisy_label_flags(X[:6], noisy[:6], 3, {"l2": 1e-3, "max_iter": 50, "seed": 0}).any()

    class DS:
        pool = pd.DataFrame({"ticket_id": ["a", "b", "c"], "text": ["x", "y", "z"]})
        tags = ["t0", "t1"]

    dev = pd.DataFrame({"ticket_id": ["d"], "text": ["w"], "tag": ["t1"]})
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    recipe = {"name": "weak+dev_w1+prune", "weak": True, "dev_weight": 1.0, "prune": True}
    keep, texts, Y, w = recipe_training_set(recipe, DS.pool, DS.tags, proba, np.ones(3, bool), dev, 0.0,
                                            flagged=np.array([False, True, False]))
    assert keep.tolist() == [True, False, True] and texts == ["x", "z", "w"] and len(Y) == 3
    with pytest.raises(ValueError, match="no flags were computed"):
        recipe_training_set(recipe, DS.pool, DS.tags, proba, np.ones(3, bool), dev, 0.0)


def test_label_issues_list_the_flagged_tickets_for_review(tmp_path):
    import pandas as pd

    from tagger.outputs import write_label_issues

    class DS:
        pool = pd.DataFrame({"ticket_id": ["a", "b", "c"], "text": ["x", "y", "z"], "operator_tag": ["t0", "t0", None]})
        tags = ["t0", "t1"]

    proba = np.array([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6]], dtype=np.float32)
    write_label_issues(tmp_path / "li.csv", DS, proba, np.array([False, True, True]),
                       np.array([[0.2, 0.8], [0.9, 0.1]], dtype=np.float32))
    li = pd.read_csv(tmp_path / "li.csv")
    assert li.columns.tolist() == ["ticket_id", "weak_label", "weak_confidence", "operator_tag", "model_tag",
                                   "model_probability", "text"]
    assert li["ticket_id"].tolist() == ["b", "c"] and li["weak_label"].tolist() == ["t0", "t1"]
    assert li["model_tag"].tolist() == ["t1", "t0"] and li["model_probability"].tolist() == [0.8, 0.9]


def test_confident_learning_agrees_with_cleanlab():
    """The pruning rule is cleanlab's confident joint (per-class thresholds = mean self-confidence),
    restricted to rows whose most likely class reaches its threshold; cleanlab's ``find_label_issues``
    also counts a row whose only above-threshold class is not its argmax. On the same out-of-fold
    probabilities every row we flag cleanlab flags, and we miss at most 3% of its flags."""
    from cleanlab.filter import find_label_issues

    from models.noise import confident_flags, out_of_fold_proba

    rng = np.random.default_rng(1)
    k = 8
    centers = rng.normal(scale=2.0, size=(k, 16)).astype(np.float32)
    true = rng.integers(0, k, 800)
    X = centers[true] + rng.normal(scale=1.2, size=(800, 16)).astype(np.float32)
    noisy = np.where(rng.random(800) < 0.2, rng.integers(0, k, 800), true)
    P = out_of_fold_proba(X, noisy, k, {"l2": 1e-3, "max_iter": 200, "seed": 0}, folds=5, seed=0)
    ours = confident_flags(P, noisy)
    theirs = find_label_issues(noisy, P, filter_by="confident_learning")
    assert ours.sum() > 50  # the data has label noise to find
    assert not (ours & ~theirs).any()
    assert (theirs & ~ours).sum() <= 0.03 * theirs.sum()
