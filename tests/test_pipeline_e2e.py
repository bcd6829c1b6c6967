"""End to end on tiny demo data, through the CLI: SQLite ingest, LFs, snorkel, MiniLM, scoring, tagging. The
main run is a real ``python -m tagger.cli run`` process; the commands that read its outputs run the same
``tagger`` app in this process (tests.tiny_configs.cli)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.tiny_configs import SMALL_SELECT, TINY, cli, tiny

ROOT = Path(__file__).resolve().parents[1]


def tagger(*args, timeout=900):
    """``python -m tagger.cli ARGS`` in a process of its own, as a user runs it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "tagger.cli", *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    return r


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    cfg = out / "tiny.yaml"
    cfg.write_text(TINY.format(out=out, mode="frozen"))
    # six gold tickets a tag of the hard demo dialogues: no exemplar LF reaches the default 0.7 precision
    # (leave-one-out), so the third LF family, and with it the snorkel label model, needs a laxer gate
    r = tagger("run", str(cfg), "--quiet", "--set", "lfs.exemplar.min_precision=0.5")
    assert r.returncode == 0, r.stderr[-3000:]
    return out, Path(r.stdout.strip().splitlines()[-1]), r


def test_run_writes_model_metrics_and_reports(tiny_run):
    out, run_dir, r = tiny_run
    assert run_dir.is_dir() and run_dir.parent == out / "runs"
    assert r.stdout.strip().splitlines()[-2] == f"report: {run_dir / 'report.html'}"  # where to look, then the run
    assert " INFO " not in r.stderr and "%|" not in r.stderr and "\r" not in r.stderr, r.stderr[-2000:]  # --quiet
    for f in ("metrics.json", "summary.md", "lfs.yaml", "lf_summary.csv", "quarantine.csv", "per_tag.csv",
              "confusion.csv", "train_labels.parquet", "model/model_config.json", "model/head.safetensors",
              "model/encoder/config.json", "per_tag_f1.png", "confusion_top.png", "report.html",
              "lf_examples.json"):
        assert (run_dir / f).exists(), f
    m = json.loads((run_dir / "metrics.json").read_text())
    assert set(m["test"]) == {"model", "baseline_gold_dev_only", "baseline_operator_tags", "baseline_majority_vote"}
    for res in m["test"].values():
        assert 0.0 <= res["macro_f1"] <= 1.0 and res["n"] == 60
        assert len(res["per_tag"]) == 12 and "fees_task" in res
    assert m["test"]["model"]["macro_f1"] > 0.5  # a real model, far above chance (1/12)
    # and weak supervision pays: the model beats each of its sources alone, gold_dev and the operators' tags
    assert m["test"]["model"]["macro_f1"] > max(m["test"]["baseline_gold_dev_only"]["macro_f1"],
                                                m["test"]["baseline_operator_tags"]["macro_f1"])
    assert m["ingest"]["quarantined"] == 4 and m["ingest"]["quarantine_reasons"]["duplicate_id"] == 1
    assert len(pd.read_csv(run_dir / "quarantine.csv")) == 4
    lm = m["label_model"]
    assert lm["method"] == "snorkel_label_model" and len(lm["families"]) == 3
    assert 0 < lm["gold_dev_accuracy_label_model"] <= 1 and lm["fit_seconds"] > 0
    assert m["selection"]["chosen"]["name"] in {t["recipe"] for t in m["selection"]["table"]}
    # confident-learning variants of the weak recipes were cross-validated like the others
    pruned = [t for t in m["selection"]["table"] if "+prune" in t["recipe"]]
    assert len(pruned) == 8 and all(len(t["folds"]) == 2 and 0 < t["cv_macro_f1_mean"] <= 1 for t in pruned)
    assert sum(t["recipe"].endswith("+adj1") for t in pruned) == 4  # each also prior-corrected
    chosen_prunes = bool(m["selection"]["chosen"].get("prune"))
    assert (m["training"]["weak_labels_pruned"] is not None) == chosen_prunes == (run_dir / "label_issues.csv").exists()
    # the tiny config asks for the lexical block, so the saved model carries it (and `tag` below reads it)
    assert m["selection"]["chosen"]["features"] == "embedding+char"
    assert json.loads((run_dir / "model/model_config.json").read_text())["features"] == "embedding+char"
    assert (run_dir / "model/lexical/lexical.safetensors").exists()
    assert "| model |" in r.stdout and "baseline_operator_tags" in (run_dir / "summary.md").read_text()


def test_report_renders_every_section(tiny_run):
    from tagger.report_text import SECTIONS

    _, run_dir, _ = tiny_run
    (run_dir / "report.html").unlink()
    r = cli("report", run_dir)
    assert r.returncode == 0 and r.stdout.strip().endswith("report.html")
    page = (run_dir / "report.html").read_text()
    for s in SECTIONS:
        assert f"id='{s.lower().replace(' ', '-')}'" in page
    assert page.count("data:image/png;base64,") >= 2 and "http://" not in page and "https://" not in page
    assert "op:fee_charged" in page and "<details>" in page and "baseline_operator_tags" in page


def test_tag_command_tags_a_file_and_quarantines_bad_rows(tiny_run, tmp_path):
    _, run_dir, _ = tiny_run
    inp = tmp_path / "new.csv"
    pd.DataFrame({"ticket_id": ["n1", "n2", "", "n1"],
                  "text": ["my card was stolen yesterday, card 4111 1111 1111 1111",
                           "why is there a fee of 2 pounds", "no id", "dup"]}).to_csv(inp, index=False)
    out = tmp_path / "tags.csv"
    # as a user runs it (its own process): --quiet prints no step, progress or INFO line, and the output ends
    # with the throughput
    r = subprocess.run([sys.executable, "-m", "tagger.cli", "tag", "--model", str(run_dir / "model"), str(inp), str(out),
                        "--quiet"], capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert " INFO " not in r.stderr and "\r" not in r.stderr and "%|" not in r.stderr, r.stderr[-2000:]
    assert re.fullmatch(r"tagged 2 tickets -> \S+ in [0-9.]+s \(\d+ tickets/s, model loading included\)",
                        r.stdout.strip().splitlines()[-1]), r.stdout
    tags = pd.read_csv(out)
    assert tags.columns[:3].tolist() == ["ticket_id", "tag", "confidence"]
    assert tags["ticket_id"].tolist() == ["n1", "n2"]
    assert tags["tag"].tolist() == ["card_lost_or_stolen", "fee_charged"]
    assert tags["confidence"].between(0, 1).all()
    q = pd.read_csv(str(out) + ".quarantine.csv")
    assert sorted(q["reason"]) == ["duplicate_id", "missing_id"] and "quarantined 2 rows" in r.stdout


def test_bad_config_and_bad_model_dir_fail_clearly(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndataset: {pool: a.csv}\n")
    r = cli("run", str(bad))
    assert r.returncode == 2 and "dataset.gold_dev" in r.stderr
    r = cli("tag", "--model", str(tmp_path), str(bad), str(tmp_path / "o.csv"))
    assert r.returncode == 2 and "not a tagger model directory" in r.stderr
    # a run that fails before writing anything leaves no empty run folder behind
    missing = tmp_path / "missing.yaml"
    missing.write_text(f"name: gone\noutput_dir: {tmp_path}/runs\ndataset: {{pool: {tmp_path}/no.csv, "
                       f"gold_dev: {tmp_path}/no.csv, gold_test: {tmp_path}/no.csv, tags: {tmp_path}/no.csv}}\n")
    r = cli("run", str(missing))
    assert r.returncode == 2 and "no.csv" in r.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_finetune_mode_end_to_end(tmp_path):
    cfg = tmp_path / "ft.yaml"
    # a third of the tiny pool (the fine-tune's cost grows with the tickets it trains on), two recipes
    cfg.write_text(tiny(tmp_path, mode="finetune", select=SMALL_SELECT).replace("n_pool: 360", "n_pool: 120"))
    r = cli("run", cfg, "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["training"]["mode"] == "finetune" and m["test"]["model"]["macro_f1"] > 0.5
    cfg_saved = json.loads((run_dir / "model" / "model_config.json").read_text())
    assert cfg_saved["mode"] == "finetune" and (run_dir / "model/encoder/model.safetensors").exists()
