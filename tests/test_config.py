import pytest

from tagger.config import ConfigError, load_config


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


BASE = """
name: t
dataset:
  pool: data/pool.csv
  gold_dev: data/dev.csv
  gold_test: data/test.csv
  tags: data/tags.csv
"""


def test_paths_resolve_against_the_config_folder(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.dataset.pool == str(tmp_path / "data/pool.csv")
    assert cfg.output_dir == str((tmp_path / "../runs").resolve())


def test_sqlite_url_resolves_relative(tmp_path):
    text = BASE.replace("pool: data/pool.csv", "pool: {url: 'sqlite:///db/s.db', table: tickets}")
    cfg = load_config(write(tmp_path, text))
    assert cfg.dataset.pool.url == f"sqlite:///{tmp_path}/db/s.db"


@pytest.mark.parametrize("patch, field", [
    (("name: t", "name: t\nend_model: {mode: gpu}"), "end_model.mode"),
    (("name: t", "name: t\nlabel_model: {n_epoch: 3}"), "label_model.n_epoch"),
    (("  tags: data/tags.csv\n", ""), "dataset.tags"),
    (("name: t", "name: t\nend_model: {select: {folds: 1}}"), "end_model.select.folds"),
    (("pool: data/pool.csv", "pool: {url: 'sqlite://'}"), "dataset.pool"),
])
def test_errors_name_the_bad_field(tmp_path, patch, field):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, BASE.replace(*patch)))
    assert field in str(e.value)


def test_overrides_and_bad_yaml(tmp_path):
    cfg = load_config(write(tmp_path, BASE), {"end_model.mode": "finetune", "seed": 3})
    assert cfg.end_model.mode == "finetune" and cfg.seed == 3
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "name: [unclosed"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_shipped_configs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    for name in ("demo.yaml", "banking77.yaml", "banking77_no_operator.yaml"):
        cfg = load_config(root / name)
        assert cfg.name
    assert load_config(root / "banking77_no_operator.yaml").dataset.use_operator_tags is False


def test_candidate_recipes_grid_and_self_training_rule(tmp_path):
    import numpy as np

    from tagger.pipeline import candidate_recipes, fit_recipe_head

    cfg = load_config(write(tmp_path, BASE))
    names = [r["name"] for r in candidate_recipes(cfg, unlabeled_share=0.5)]
    assert "weak+dev_w5+conf0.5" in names and "weak+dev_w5+conf0.5+self_train" in names
    assert "dev_only+self_train" in names and len(names) == len(set(names)) == 52
    # each weak recipe also without the weak labels confident learning flags; dev-only has none to prune
    assert "weak+dev_w20+conf0.5+prune" in names and "weak+dev_w1+prune+self_train+char" in names
    assert not [n for n in names if n.startswith("dev_only") and "prune" in n]
    no_prune = load_config(write(tmp_path, BASE + "end_model: {select: {prune_noisy: false}}\n"))
    assert len(candidate_recipes(no_prune, unlabeled_share=0.5)) == 28
    # every recipe on both head feature sets: the embedding alone and with the char n-gram block
    assert "weak+dev_w5+conf0.5+char" in names and "dev_only+self_train+char" in names
    covered_pool = [r["name"] for r in candidate_recipes(cfg, unlabeled_share=0.01)]
    # almost no unlabeled pool: no self-training variants of weak recipes, dev-only keeps its own
    assert [n for n in covered_pool if "+self_train" in n] == ["dev_only+self_train", "dev_only+self_train+char"]
    # the fine-tuned classifier reads the encoder only, so finetune mode never gets +char recipes
    ft = load_config(write(tmp_path, BASE + "end_model: {mode: finetune}\n"))
    assert all(r["features"] == "embedding" for r in candidate_recipes(ft)) and len(candidate_recipes(ft)) == 26
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


def test_confident_learning_flags_flipped_labels_and_pruning_needs_flags():
    import numpy as np
    import pandas as pd

    from tagger.pipeline import noisy_label_flags, recipe_training_set

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
    from tagger.pipeline import prune_flags

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
    keep, texts, Y, w = recipe_training_set(recipe, DS, proba, np.ones(3, bool), dev, 0.0,
                                            flagged=np.array([False, True, False]))
    assert keep.tolist() == [True, False, True] and texts == ["x", "z", "w"] and len(Y) == 3
    with pytest.raises(ValueError, match="no flags were computed"):
        recipe_training_set(recipe, DS, proba, np.ones(3, bool), dev, 0.0)


def test_label_issues_list_the_flagged_tickets_for_review(tmp_path):
    import numpy as np
    import pandas as pd

    from tagger.pipeline import write_label_issues

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
