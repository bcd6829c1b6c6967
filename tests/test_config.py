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
