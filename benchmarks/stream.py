"""A time-ordered Banking77 stream: four months of tickets in which tags arrive, the mix shifts and the
wording changes; and drift watch measured on it.

    python benchmarks/stream.py build [OUT]                 # the stream's files (seeded)
    python benchmarks/stream.py watch [OUT] [--shuffles 5]  # train on months 1-2, then drift watch on 1-4
    python benchmarks/stream.py months [OUT]                # frozen model against onboarding and retraining
    python benchmarks/stream.py months [OUT] --llm-batch DIR [--import-replies REPLIES --run M12_RUN]

The stream (from the shipped ``../shared/benchmarks/banking77`` files, nothing else):
- months 1 and 2 hold the pool tickets of 70 tags (by operator tag, the only tag the pool has);
- month 3 brings the tickets whose operator tag is one of the 7 other tags, as new tags; operators are
  slow to adopt them: in month 3, 50% of those tickets carry no operator tag and 30% an old one;
- month 4 shifts the mix: 10 old tags are three times as frequent as before;
- month 4 changes the surface: every ticket starts with an app banner and "card" becomes "NeoCard".

Files: ``stream.csv`` (ticket_id, text, operator_tag, created_at, month), ``tags_m12.csv`` and
``tags.csv`` (70 and 77 tags), ``gold_dev_m12.csv`` (the 70 old tags' gold_dev; a new tag's 10 examples
become available only when it is added), ``gold_dev.csv``, and ``gold_test_old.csv`` /
``gold_test_all.csv`` / ``gold_test_m4.csv`` (the old tags; all tags; all tags in month 4's wording), so each
point in time is scored on the tags that exist then. gold_test is read only by final scoring.

``watch`` trains the model frozen after month 2 (``tagger run`` on months 1-2 with the old tags and
their gold_dev, the :data:`LIGHT` grid), then runs drift watch with the default thresholds on the four
months, and on the same tickets with their months reshuffled (no drift left), whose alerts are false alarms.
``months`` (``python benchmarks/stream.py months [OUT] [--run M12_RUN]``) compares that frozen model with
the pipeline that adds the new tags in month 3 (``tagger tags add``, then ``tagger tags bootstrap`` of the
seven together) and retrains, and each new tag's F1 with a model that had every tag from the start.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from data.atomic import atomic_write_text  # noqa: E402  (every file here is written atomically)
from data.io import write_table  # noqa: E402
B77 = ROOT.parent / "shared" / "benchmarks" / "banking77"
N_NEW, N_SHIFT, SHIFT = 7, 10, 3.0
BANNER = "[NeoBank app v5] "


def new_surface(text: str) -> str:
    """Month 4's wording: the app banner, and the product renamed."""
    return BANNER + re.sub(r"\bcard(s?)\b", r"NeoCard\1", text, flags=re.IGNORECASE)


def build(out: Path, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    pool = pd.read_csv(B77 / "pool.csv")
    tags = pd.read_csv(B77 / "tags.csv")
    names = sorted(tags["tag"])
    new = sorted(rng.choice(names, N_NEW, replace=False).tolist())
    old = [t for t in names if t not in new]
    shifted = sorted(rng.choice(old, N_SHIFT, replace=False).tolist())
    op = pool["operator_tag"]
    is_new = op.isin(new).to_numpy()
    # months of old-tag tickets: uniform, but the shifted tags are SHIFT times as likely in month 4
    w_plain, w_shift = np.array([1, 1, 1, 1.0]), np.array([1, 1, 1, SHIFT])
    month = np.zeros(len(pool), dtype=int)
    for i in range(len(pool)):
        if is_new[i]:
            month[i] = rng.choice([3, 4], p=[0.6, 0.4])
        else:
            w = w_shift if op.iloc[i] in shifted else w_plain
            month[i] = rng.choice([1, 2, 3, 4], p=w / w.sum())
    stream = pool.copy()
    slow = is_new & (month == 3)
    r = rng.random(len(pool))
    stream.loc[slow & (r < 0.5), "operator_tag"] = None
    old_pick = rng.choice(old, len(pool))
    stream.loc[slow & (r >= 0.5) & (r < 0.8), "operator_tag"] = old_pick[slow & (r >= 0.5) & (r < 0.8)]
    stream.loc[month == 4, "text"] = [new_surface(t) for t in stream.loc[month == 4, "text"]]
    day = rng.integers(1, 29, len(pool))
    stream["created_at"] = [f"2026-{m:02d}-{d:02d}T{h:02d}:00:00" for m, d, h in
                            zip(month, day, rng.integers(8, 20, len(pool)))]
    stream["month"] = month
    out.mkdir(parents=True, exist_ok=True)
    write_table(stream.sort_values("created_at", kind="stable"), out / "stream.csv")
    write_table(tags[tags["tag"].isin(old)], out / "tags_m12.csv")
    write_table(tags, out / "tags.csv")
    dev = pd.read_csv(B77 / "gold_dev.csv")
    write_table(dev[dev["tag"].isin(old)], out / "gold_dev_m12.csv")
    write_table(dev, out / "gold_dev.csv")
    test = pd.read_csv(B77 / "gold_test.csv")
    write_table(test[test["tag"].isin(old)], out / "gold_test_old.csv")
    write_table(test, out / "gold_test_all.csv")
    write_table(test.assign(text=[new_surface(t) for t in test["text"]]), out / "gold_test_m4.csv")
    info = {"seed": seed, "new_tags": new, "shifted_tags": shifted,
            "tickets_per_month": {int(m): int((month == m).sum()) for m in (1, 2, 3, 4)},
            "new_tag_tickets_month3_without_their_tag": int((slow & (stream["operator_tag"] != op)).sum())}
    atomic_write_text(out / "stream.json", json.dumps(info, indent=2))
    return info


# the months runs' recipe grid and rounds: four weak recipes and gold_dev alone (each also +adj1, the prior
# correction, which fits no extra head) on three folds, two refinement rounds, so that the
# four runs of `months` fit an hour on a 2-core machine (configs/banking77.yaml's full grid takes about 10
# minutes per run on a quiet machine, far more on a busy one); every run here uses it, the frozen one too
LIGHT = ("end_model: {mode: frozen, max_length: 64, select: {folds: 3, gold_dev_weights: [1, 5], "
         "min_confidences: [0.0, 0.5], prune_noisy: false, self_train: false, features: [embedding]}}")


def _config(out: Path, name: str, files: dict[str, Path], extra: str = "") -> Path:
    """``configs/banking77.yaml`` (operator tags, miner refinement, recipe CV) on the stream's ``files``,
    with the :data:`LIGHT` grid and two refinement rounds."""
    cfg = (ROOT / "configs" / "banking77.yaml").read_text()
    cfg = re.sub(r"end_model: .*", LIGHT, cfg).replace("max_rounds: 5", "max_rounds: 2")
    cfg = re.sub(r"name: banking77", f"name: {name}", cfg)
    for key, file in files.items():
        cfg = re.sub(rf"  {key}: .*", f"  {key}: {file}", cfg)
    cfg = cfg.replace("output_dir: ../runs", f"output_dir: {ROOT / 'runs'}").replace(
        "cache_dir: ../.cache", f"cache_dir: {ROOT / '.cache'}")
    path = out / f"{name}.yaml"
    atomic_write_text(path, cfg + extra)
    return path


def _tagger(*args: str) -> str:
    """``tagger ARGS`` in its own process; its stdout (a failure raises with the end of its stderr)."""
    p = subprocess.run([sys.executable, "-m", "tagger.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"tagger {' '.join(map(str, args[:3]))}: {p.stderr[-3000:]}")
    return p.stdout


def _run(config: Path) -> Path:
    return Path(_tagger("run", config, "--quiet").strip().splitlines()[-1])


def train_month12(out: Path, settings: str = "") -> Path:
    """``tagger run`` on months 1-2 with the old tags only (the :data:`LIGHT` grid): the model frozen after
    month 2. ``settings``: config lines appended (see :func:`prior_settings`)."""
    stream = pd.read_csv(out / "stream.csv")
    write_table(stream[stream["month"] <= 2].drop(columns="month"), out / "pool_m12.csv")
    return _run(_config(out, "stream_m12", {"pool": out / "pool_m12.csv", "gold_dev": out / "gold_dev_m12.csv",
                                            "gold_test": out / "gold_test_old.csv", "tags": out / "tags_m12.csv"},
                        settings))


def watch(out: Path, run_dir: Path, shuffles: int, seed: int = 0) -> list[dict]:
    """Drift watch of the four months, then of ``shuffles`` reshuffles of the months (false alarms)."""
    from labeling_functions.spec import load_specs
    from models.end_model import TaggerModel
    from tagger.drift import DriftSettings, drift_watch

    stream = pd.read_csv(out / "stream.csv")
    stream["metadata"] = "{}"
    model = TaggerModel.load(run_dir / "model", precision="int8")
    embed, memo = model.embed, {}

    def cached(texts, batch_size=64, progress=False):  # the reshuffles embed the same tickets: once each
        todo = [t for t in dict.fromkeys(texts) if t not in memo]
        if todo:
            memo.update(zip(todo, embed(todo, batch_size)))
        return np.stack([memo[t] for t in texts])

    model.embed = cached
    specs = load_specs(run_dir / "lfs.yaml")
    s = DriftSettings()
    rows = [{"stream": "as ordered", **r} for r in drift_watch(stream, model, specs, s)]
    rng = np.random.default_rng(seed)
    for k in range(shuffles):
        shuf = stream.assign(created_at=rng.permutation(stream["created_at"].to_numpy()))
        rows += [{"stream": f"reshuffled {k + 1}", **r} for r in drift_watch(shuf, model, specs, s)]
    return rows


def _gold_f1(run_dir: Path) -> tuple[float, pd.Series]:
    """The run's own final score (its config's gold_test): macro-F1 and per-tag F1 of the model."""
    m = json.loads((run_dir / "metrics.json").read_text())
    per_tag = pd.read_csv(run_dir / "per_tag.csv")
    return m["test"]["model"]["macro_f1"], per_tag[per_tag["model"] == "model"].set_index("tag")["f1"]


def _score(model_dir: Path, test_csv: Path, tags: list[str]) -> tuple[float, pd.Series]:
    """A saved model scored on ``test_csv`` over ``tags`` (the tags that exist then; a tag the model does
    not know scores 0)."""
    from models.end_model import TaggerModel
    from models.evaluate import score

    model = TaggerModel.load(model_dir, precision="fp32")
    test = pd.read_csv(test_csv)
    pred = np.array(model.tags)[model.predict_proba(test["text"].tolist()).argmax(1)]
    r = score(test["tag"], pred, tags)
    return r["macro_f1"], pd.Series({t: v["f1"] for t, v in r["per_tag"].items()})


LLM_BOOT = ("refine:\n  enabled: true\n  backend: openai\n  mode: auto\n  max_rounds: 1\n  patience: 2\n"
            "  openai:\n    model: claude-offline-helper\n    batch_dir: {batch}\n")


def llm_boot_config(m123: Path, batch: Path) -> Path:
    """The month-3 config with the LLM's cold start in batch mode for ``tags bootstrap`` (one round: the
    cold-start requests for the new tags alone, answered offline; see ``benchmarks/llm_batch/README.md``)."""
    cfg = re.sub(r"(?m)^refine:\n(?:  .*\n)*", LLM_BOOT.format(batch=batch), m123.read_text())
    path = m123.with_name(m123.stem + "_llm_boot.yaml")
    atomic_write_text(path, cfg)
    return path


def prior_settings(class_prior: str) -> str:
    """Config lines for the label model's ``class_prior`` (nothing for the default, the operator tags)."""
    return "" if class_prior == "operator_tags" else f"label_model: {{class_prior: {class_prior}}}\n"


def months(out: Path, m12_run: Path | None = None, llm_batch: Path | None = None,
           import_replies: Path | None = None, settings: str = "") -> dict:
    """The months table: the model frozen after month 2 against the pipeline that adds the new tags in
    month 3 (``tagger tags add`` per tag, ``tagger tags bootstrap --mode auto`` of the seven, then one
    retrain) and retrains with refinement in month 4; and each new tag's F1 against a model that had every
    tag from the start. With ``llm_batch`` the bootstrap's proposer is the LLM in batch mode (a cold-start
    request per group of new tags) instead of the miner: the first call exports the requests and stops;
    the second, with ``import_replies``, imports the answers and goes on. ``settings``: config lines every
    run of it appends (see :func:`prior_settings`)."""
    info = json.loads((out / "stream.json").read_text())
    new = info["new_tags"]
    stream = pd.read_csv(out / "stream.csv")
    work = out / "onboard"
    if work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir()
    write_table(pd.read_csv(out / "tags_m12.csv"), work / "tags.csv")
    write_table(pd.read_csv(out / "gold_dev_m12.csv"), work / "gold_dev.csv")
    write_table(stream[stream["month"] <= 3].drop(columns="month"), work / "pool_m123.csv")
    store = work / "lfs"
    m123 = _config(work, "stream_m123", {"pool": work / "pool_m123.csv", "gold_dev": work / "gold_dev.csv",
                                         "gold_test": out / "gold_test_all.csv", "tags": work / "tags.csv"}, settings)
    all_tags = pd.read_csv(out / "tags.csv")
    dev_all = pd.read_csv(out / "gold_dev.csv")
    t0 = time.perf_counter()
    for tag in new:  # month 3: each new tag with its 10 gold_dev examples
        ex = work / f"examples_{tag}.csv"
        write_table(dev_all.loc[dev_all["tag"] == tag, ["ticket_id", "text"]], ex)
        desc = all_tags.loc[all_tags["tag"] == tag, "description"].iloc[0]
        _tagger("tags", "add", tag, "--description", desc, "--examples", ex, "--config", m123)
    # their LFs bootstrapped together (auto mode): one loop whose proposer sees the new tags alone
    boot_cfg = llm_boot_config(m123, llm_batch.resolve()) if llm_batch else m123
    replies = ("--import-replies", import_replies.resolve()) if import_replies else ()
    stdout = _tagger("tags", "bootstrap", *new, "--config", boot_cfg, "--store", store, "--mode", "auto", "--quiet",
                     *replies)
    boot = next(json.loads(x)["bootstrap"] for x in stdout.splitlines() if x.startswith('{"bootstrap"'))
    if boot["stop_reason"].startswith("awaiting replies"):
        print(f"the LLM's cold-start requests are in {llm_batch}/round-01/prompts/; answer each as "
              "<custom_id>.json, then run `months` again with --import-replies DIR", flush=True)
        return {"awaiting": boot["stop_reason"]}
    t12 = time.perf_counter()
    m12_run = m12_run or train_month12(out, settings)
    t12 = time.perf_counter() - t12  # not part of onboarding: the frozen model's training is left out of the times
    print(f"months 1-2 (the frozen model): {m12_run}", flush=True)
    boots = boot["tags"]
    for tag in new:
        print(f"  {tag}: {len(boots[tag]['lfs'])} LFs, exemplar {boots[tag]['exemplar']['decision']}", flush=True)
    t_boot = time.perf_counter() - t0 - t12
    m123 = _config(work, "stream_m123", {"pool": work / "pool_m123.csv", "gold_dev": work / "gold_dev.csv",
                                         "gold_test": out / "gold_test_all.csv", "tags": work / "tags.csv"},
                   settings + f"lfs: {{spec_dirs: [{store}]}}\n")
    r3 = _run(m123)
    t_champion = time.perf_counter() - t0 - t12
    print(f"month 3 retrained: {r3} ({t_champion:.0f}s after the first tags add)", flush=True)

    # every tag from the start: the same month-1-3 tickets with the operators' own tags, all tags' gold_dev
    orig = pd.read_csv(B77 / "pool.csv").set_index("ticket_id")["operator_tag"]
    start_pool = stream[stream["month"] <= 3].drop(columns="month")
    start_pool = start_pool.assign(operator_tag=start_pool["ticket_id"].map(orig).to_numpy())
    write_table(start_pool, work / "pool_start.csv")
    start_files = {"pool": work / "pool_start.csv", "gold_dev": out / "gold_dev.csv",
                   "gold_test": out / "gold_test_all.csv", "tags": out / "tags.csv"}
    r_start = _run(_config(work, "stream_from_start", start_files, settings))

    write_table(stream.drop(columns="month"), work / "pool_m1234.csv")
    r4 = _run(_config(work, "stream_m1234", {"pool": work / "pool_m1234.csv", "gold_dev": work / "gold_dev.csv",
                                             "gold_test": out / "gold_test_m4.csv", "tags": work / "tags.csv"},
                      settings + f"lfs: {{spec_dirs: [{store}]}}\n"))

    old = pd.read_csv(out / "tags_m12.csv")["tag"].tolist()
    tags = all_tags["tag"].tolist()
    frozen12, _ = _gold_f1(m12_run)
    frozen3, _ = _score(m12_run / "model", out / "gold_test_all.csv", tags)
    frozen4, _ = _score(m12_run / "model", out / "gold_test_m4.csv", tags)
    pipe3, f1_3 = _gold_f1(r3)
    pipe4, _ = _gold_f1(r4)
    _, f1_start = _gold_f1(r_start)
    rows = [{"month": "1-2", "tags": len(old), "gold_test": "old tags", "frozen after month 2": frozen12,
             "pipeline": frozen12},
            {"month": "3", "tags": len(tags), "gold_test": "all tags", "frozen after month 2": frozen3, "pipeline": pipe3},
            {"month": "4", "tags": len(tags), "gold_test": "all tags, month-4 wording", "frozen after month 2": frozen4,
             "pipeline": pipe4}]
    per_new = pd.DataFrame({"tag": new, "onboarded_f1": [f1_3[t] for t in new], "from_start_f1": [f1_start[t] for t in new],
                            "lfs_bootstrapped": [len(boots[t]["lfs"]) for t in new]})
    per_new["ratio"] = per_new["onboarded_f1"] / per_new["from_start_f1"]
    res = {"months": rows, "new_tags": per_new.to_dict("records"),
           "mean_new_tag_f1": {"onboarded": float(per_new["onboarded_f1"].mean()),
                               "from_start": float(per_new["from_start_f1"].mean())},
           "seconds": {"tags_add_and_bootstrap": round(t_boot, 1), "bootstrap": boot["seconds"],
                       "tags_add_to_champion": round(t_champion, 1)}, "bootstrap_proposer": boot["proposer"],
           "runs": {"m12": str(m12_run), "m123": str(r3), "from_start": str(r_start), "m1234": str(r4)},
           "bootstraps": boots}
    atomic_write_text(out / "months.json", json.dumps(res, indent=2, default=str))
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))
    print(per_new.to_markdown(index=False, floatfmt=".3f"))
    print(json.dumps({k: res[k] for k in ("mean_new_tag_f1", "seconds")}, indent=1))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["build", "watch", "months"])
    ap.add_argument("out", nargs="?", default=str(ROOT / ".cache" / "stream"))
    ap.add_argument("--run", help="a finished months-1-2 run directory (default: train one; `months` trains "
                    "it with its light grid)")
    ap.add_argument("--shuffles", type=int, default=5)
    ap.add_argument("--llm-batch", metavar="DIR", help="months: the new tags' cold start by the LLM in batch mode, "
                    "through this batch folder (first call: export and stop; then --import-replies)")
    ap.add_argument("--import-replies", metavar="DIR", help="months --llm-batch: the answered requests to import")
    ap.add_argument("--class-prior", choices=["operator_tags", "uniform"], default="operator_tags",
                    help="label_model.class_prior of every run that `months` (or `watch` without --run) trains")
    a = ap.parse_args()
    if a.import_replies and not a.llm_batch:
        ap.error("--import-replies needs --llm-batch")
    out = Path(a.out)
    info = build(out)
    print(json.dumps(info, indent=2))
    if a.what == "build":
        return
    if a.what == "months":
        months(out, Path(a.run) if a.run else None, Path(a.llm_batch) if a.llm_batch else None,
               Path(a.import_replies) if a.import_replies else None, prior_settings(a.class_prior))
        return
    run_dir = Path(a.run) if a.run else train_month12(out, prior_settings(a.class_prior))
    print(f"months-1-2 run: {run_dir}", flush=True)
    rows = watch(out, run_dir, a.shuffles)
    cols = ["stream", "window_start", "tickets", "alerts", "tag_mix_psi", "domain_auc", "lf_shift_share",
            "confidence_ks", "needs_review_share", "uncovered_by_rules"]
    table = pd.DataFrame(rows)[cols]
    print(table.to_markdown(index=False, floatfmt=".3f"))
    shuffled = table[table["stream"] != "as ordered"]
    later = shuffled[shuffled["window_start"] != shuffled.groupby("stream")["window_start"].transform("min")]
    print(f"\nfalse alarms on reshuffled windows: {int((later['alerts'] != '').sum())} of {len(later)}")
    write_table(table, out / "drift_watch.csv")


if __name__ == "__main__":
    main()
