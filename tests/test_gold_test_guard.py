"""gold_test is read by the final scoring step alone.

The run starts with gold_test replaced by a folder of the same name, so any earlier attempt to open it
(ingest, LFs, the refinement loop, recipe selection, training, baselines) raises; the scoring step is
wrapped to put the real file back just before it loads it.
"""
import json
import shutil

import pandas as pd

import tagger.scoring as scoring
from data.demo import generate_demo
from tagger.config import load_config
from tagger.pipeline import run_pipeline
from tests.tiny_configs import demo_dataset

CONFIG = """
name: guard
seed: 0
output_dir: {out}/runs
cache_dir: {out}/cache
{dataset}end_model:
  max_length: 32
  select: {{folds: 2, gold_dev_weights: [1], min_confidences: [0], prune_noisy: false, self_train: false,
           features: [embedding]}}
label_model: {{n_epochs: 50}}
refine: {{enabled: true, backend: miner, max_rounds: 1}}
"""


def test_nothing_reads_gold_test_before_final_scoring(tmp_path, monkeypatch):
    d = tmp_path / "demo"
    generate_demo(d, n_pool=200, n_test_per_tag=3, n_dev_per_tag=6, seed=2)
    n_test = len(pd.read_json(d / "gold_test.jsonl", lines=True))
    real = d / "gold_test.real.jsonl"
    shutil.move(d / "gold_test.jsonl", real)
    (d / "gold_test.jsonl").mkdir()  # exists, but opening it fails until scoring
    calls = []
    original = scoring.load_gold_test

    def at_scoring(cfg, ds):
        calls.append(cfg.dataset.gold_test)
        (d / "gold_test.jsonl").rmdir()
        shutil.move(real, d / "gold_test.jsonl")
        return original(cfg, ds)

    monkeypatch.setattr(scoring, "load_gold_test", at_scoring)
    cfg_file = tmp_path / "guard.yaml"
    cfg_file.write_text(CONFIG.format(out=tmp_path, dataset=demo_dataset(d)))
    run_dir = run_pipeline(load_config(cfg_file), progress=False)
    assert calls == [str(d / "gold_test.jsonl")]  # loaded once, by the scoring step
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["refinement"]["rounds"] and m["selection"]["table"]  # the loop and the recipe CV both ran
    q = pd.read_csv(run_dir / "quarantine.csv")
    q_test = int(q["source"].astype(str).str.endswith("gold_test.jsonl").sum())
    assert m["test"]["model"]["n"] + q_test == n_test  # every test row was scored or quarantined, once
