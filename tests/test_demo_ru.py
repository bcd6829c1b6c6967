"""The Russian demo: seeded Russian dialogues of a small-business bank with Russian PII, masked at
ingest, run end to end with a local encoder (a tiny BERT built in the test), and a plain warning when
the English MiniLM would embed them."""
import json
import logging
import re
import sqlite3
from pathlib import Path

import pandas as pd

from data.demo import generate_demo
from data.io import load_tickets

ROOT = Path(__file__).resolve().parents[1]


def test_russian_demo_data_has_russian_tags_text_and_pii_that_ingest_masks(tmp_path):
    paths = generate_demo(tmp_path, n_pool=240, n_test_per_tag=2, n_dev_per_tag=3, seed=1, lang="ru")
    tags = pd.read_csv(paths["tags"])
    assert {"Тариф", "Счёт", "ОнлайнБухгалтерия"} <= set(tags["tag"]) and tags["fees_group"].sum() == 1
    with sqlite3.connect(paths["db"]) as con:
        raw = " ".join(b for (b,) in con.execute("SELECT body FROM messages WHERE body IS NOT NULL"))
        ops = [t for (t,) in con.execute("SELECT operator_tag FROM conversations WHERE conversation_id LIKE 'conv-0%'")]
    assert len(re.findall(r"[а-яё]", raw)) > 0.5 * len(re.findall(r"[a-zа-яё]", raw, re.I))
    for pii in (r"\+7 \(9\d\d\) \d{3}-\d\d-\d\d", r"\b\d{3}-\d{3}-\d{3} \d\d\b", r"\b40702810\d{12}\b", r"ИНН \d{10}"):
        assert re.search(pii, raw), pii  # the raw source holds Russian PII ...
    dev, _ = load_tickets(paths["gold_dev"], label_column="tag")
    pool_text = " ".join(load_tickets(paths["gold_test"], label_column="tag")[0]["text"]) + " ".join(dev["text"])
    for pii in (r"\+7 \(9\d\d\)", r"\b\d{3}-\d{3}-\d{3} \d\d\b", r"\b40702810\d{12}\b", r"\b\d{10}\b"):
        assert not re.search(pii, pool_text), pii  # ... and none of it survives ingest
    assert "[PHONE]" in pool_text or "[INN]" in pool_text
    known = set(tags["tag"])
    assert sum(o in known for o in ops) >= 0.7 * len(ops)  # operator tags, mostly right, from the tag list


def test_the_english_encoder_warning_names_the_setting(tmp_path, caplog):
    from tagger.config import load_config
    from tagger.dataset import Dataset
    from tagger.pipeline import warn_english_encoder
    from tests.test_config import BASE, write

    ds = Dataset(["a"], pd.DataFrame({"tag": ["a"]}), pd.DataFrame({"text": ["Здравствуйте, карта заблокирована"]}),
                 pd.DataFrame(), pd.DataFrame())
    cfg = load_config(write(tmp_path, BASE))
    with caplog.at_level(logging.WARNING, logger="tagger"):
        warn_english_encoder(cfg, ds)
    assert "English model" in caplog.text and "end_model.encoder.path" in caplog.text
    caplog.clear()
    english = Dataset(["a"], pd.DataFrame(), pd.DataFrame({"text": ["my card is blocked"]}), pd.DataFrame(), pd.DataFrame())
    warn_english_encoder(cfg, english)
    assert caplog.text == ""


def test_russian_demo_end_to_end_with_a_local_encoder(tmp_path):
    from tests.test_local_encoder import RUSSIAN, tiny_encoder
    from tests.tiny_configs import cli

    demo = tmp_path / "demo_ru"
    generate_demo(demo, n_pool=240, n_test_per_tag=3, n_dev_per_tag=4, seed=2, lang="ru")
    texts = load_tickets(demo / "gold_dev.jsonl", label_column="tag")[0]["text"].tolist() + RUSSIAN
    enc = tiny_encoder(tmp_path / "tiny-bert", texts)
    cfg = (ROOT / "configs" / "demo_ru.yaml").read_text()
    cfg = cfg.replace("../workspace/demo_ru", str(demo)).replace("../runs", str(tmp_path / "runs"))
    cfg = cfg.replace("../.cache", str(tmp_path / "cache")).replace("n_pool: 2400", "n_pool: 240")
    cfg = cfg.replace("  # encoder: {path: /models/your-russian-encoder, pooling: mean}", f"  encoder: {{path: {enc}}}")
    cfg = cfg.replace("max_length: 128", "max_length: 32")
    # the demo's recipe grid and loop, smaller: one weak recipe (its char n-gram block kept) against gold_dev
    # alone on 2 folds, one refinement round
    small = {"select: {gold_dev_weights: [1, 5], min_confidences: [0.5], features: [embedding+char]}":
             "select: {folds: 2, gold_dev_weights: [5], min_confidences: [0.5], prune_noisy: false, self_train: false, "
             "features: [embedding+char]}",
             "max_rounds: 2, patience: 1": "max_rounds: 1, patience: 1"}
    for old, new in small.items():
        assert old in cfg, old
        cfg = cfg.replace(old, new)
    (tmp_path / "demo_ru.yaml").write_text(cfg)
    r = cli("demo", "--config", tmp_path / "demo_ru.yaml", "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["dataset"]["tags"] == 12 and m["test"]["model"]["n"] == 36
    tagged = pd.read_csv(run_dir / "demo_tags.csv")
    assert len(tagged) == 36 and tagged["tag"].str.contains("[А-ЯЁ]", regex=True).all()  # Cyrillic tags out
    assert "Тариф" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert "encoder_warning" not in m["ingest"]  # a local encoder: no MiniLM warning
