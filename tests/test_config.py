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
    assert "dev_only+self_train" in names and len(names) == len(set(names)) == 28
    # every recipe on both head feature sets: the embedding alone and with the char n-gram block
    assert "weak+dev_w5+conf0.5+char" in names and "dev_only+self_train+char" in names
    covered_pool = [r["name"] for r in candidate_recipes(cfg, unlabeled_share=0.01)]
    # almost no unlabeled pool: no self-training variants of weak recipes, dev-only keeps its own
    assert [n for n in covered_pool if "+self_train" in n] == ["dev_only+self_train", "dev_only+self_train+char"]
    # the fine-tuned classifier reads the encoder only, so finetune mode never gets +char recipes
    ft = load_config(write(tmp_path, BASE + "end_model: {mode: finetune}\n"))
    assert all(r["features"] == "embedding" for r in candidate_recipes(ft)) and len(candidate_recipes(ft)) == 14
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
