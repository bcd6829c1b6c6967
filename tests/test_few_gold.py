"""Few gold labels per tag is the normal case (about 4 per tag a month at the bank this is modelled on,
fewer for a new tag): the pipeline runs with 0 to 3 gold_dev tickets per tag, uses the folds its
unseen tickets allow, falls back to a default recipe when no comparison can be made, and says so."""
import json

import pandas as pd

from data.demo import generate_demo
from tagger.config import load_config
from tagger.pipeline import run_pipeline
from tests.tiny_configs import demo_dataset

CONFIG = """
name: few
seed: 0
output_dir: {out}/runs
cache_dir: {cache}
{dataset}end_model:
  max_length: 32
  select: {{folds: 5, gold_dev_weights: [1], min_confidences: [0], prune_noisy: false, self_train_rounds: 1,
           features: [embedding]}}
label_model: {{n_epochs: 50}}
refine: {{enabled: true, backend: miner, max_rounds: 1}}
"""


def _run(tmp_path, demo, per_tag: list[int]):
    dev = pd.read_json(demo / "gold_dev.jsonl", lines=True)
    tags = pd.read_csv(demo / "tags.csv")["tag"].tolist()
    keep = pd.concat([dev[dev["tag"] == t].head(n) for t, n in zip(tags, per_tag)])
    keep.to_json(demo / "gold_dev_few.jsonl", orient="records", lines=True)
    cfg = tmp_path / "few.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path, cache=demo / "cache",
                                 dataset=demo_dataset(demo, "gold_dev_few.jsonl", use_operator_tags=False)))
    run_dir = run_pipeline(load_config(cfg), progress=False)
    return run_dir, json.loads((run_dir / "metrics.json").read_text()), tags


def test_one_to_three_gold_tickets_per_tag_and_a_tag_with_none(tmp_path_factory):
    demo = tmp_path_factory.mktemp("demo")
    generate_demo(demo, n_pool=240, n_test_per_tag=3, n_dev_per_tag=3, seed=4)
    per_tag = [0] + [1, 2, 3] * 4  # the first tag has no gold_dev ticket at all
    run_dir, m, tags = _run(tmp_path_factory.mktemp("a"), demo, per_tag[:12])
    sel = m["selection"]
    # the loop's gating half takes 1 of 1, 1 of 2 and 2 of 3 tickets per tag: 7 are left to score
    assert m["refinement"]["split"]["select_tickets"] == 7
    # all 21 are scored when no generated LF reaches the run, at most the 7 unseen ones when some does
    scored = sel["scored_tickets"]
    assert scored == 21 or scored <= 7, scored
    k = min(5, scored // 2) if scored >= 4 else 0  # each fold scores at least 2 tickets
    assert sel["folds"] == k
    if 0 < k < 5:
        assert f"{k} folds instead of 5" in sel["note"] and f"{k} folds instead of 5" in (run_dir / "summary.md").read_text()
    if k:
        # every recipe ran every fold, but those racing dropped (they stop after the fold that dropped them)
        assert len(sel["table"]) >= 2 and all(len(r["folds"]) == r.get("dropped_after_fold", k) for r in sel["table"])
        assert len(next(r for r in sel["table"] if r["recipe"] == sel["chosen"]["name"])["folds"]) == k
    assert m["test"]["model"]["n"] > 0 and (run_dir / "model").is_dir()

    # one ticket for each of 3 tags, none for the rest: every one gates, nothing is left to compare recipes
    # (3 tickets cannot make two folds of 2) or rounds on
    run_dir, m, _ = _run(tmp_path_factory.mktemp("b"), demo, [1] * 3 + [0] * 9)
    sel = m["selection"]
    assert sel["folds"] == 0 and sel["table"] == [] and "no CV" in sel["note"]
    assert sel["chosen"]["name"] == "weak+dev_w1+self_train"
    assert m["refinement"]["split"]["rounds_scored_on"].startswith("gating half")
    assert "no CV" in (run_dir / "summary.md").read_text()


def test_cv_uses_the_folds_its_unseen_tickets_allow():
    from tagger.select import cv_folds

    assert cv_folds(5, 21) == (5, "")
    k, why = cv_folds(5, 7)
    assert k == 3 and why == "3 folds instead of 5: only 7 gold_dev tickets to score"
    k, why = cv_folds(5, 3)
    assert k == 0 and "only 3 gold_dev tickets" in why and "holdout: all" in why

