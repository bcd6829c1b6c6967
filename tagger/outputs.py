"""What a run writes besides the model: metrics, the readable summary, per-LF example hits and the
label-issue review list. Every file is written atomically."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from data.atomic import atomic_write_text
from data.io import write_table
from data.schema import one_line
from labeling_functions.analysis import sample_hits
from labeling_functions.spec import LFSpec
from models.evaluate import summary_table
from tagger.dataset import Dataset


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str))


def write_label_issues(path: Path, ds: Dataset, proba: np.ndarray, flagged: np.ndarray, P_model: np.ndarray) -> None:
    """The pool tickets whose weak label confident learning flagged (left out of training): ticket,
    weak label and its confidence, the operator's tag where there is one, and the tag the trained
    head gives (``P_model``: its probabilities on the flagged rows). A review list for analysts."""
    rows = np.flatnonzero(flagged)
    cols = {"ticket_id": ds.pool["ticket_id"].to_numpy()[rows],
            "weak_label": [ds.tags[i] for i in proba[rows].argmax(1)],
            "weak_confidence": np.round(proba[rows].max(1), 4)}
    if "operator_tag" in ds.pool:
        cols["operator_tag"] = ds.pool["operator_tag"].to_numpy()[rows]
    cols["model_tag"] = [ds.tags[i] for i in P_model.argmax(1)]
    cols["model_probability"] = np.round(P_model.max(1), 4)
    cols["text"] = ds.pool["text"].to_numpy()[rows]
    write_table(pd.DataFrame(cols), path)


def lf_examples(specs: list[LFSpec], L: np.ndarray, L_dev: np.ndarray, ds: Dataset, n: int = 3,
                width: int = 200) -> dict:
    """Up to ``n`` example hits per LF id (:func:`labeling_functions.analysis.sample_hits`): ``ok`` and
    ``bad`` on gold_dev (``bad`` with the true tag), and ``pool`` on unlabeled pool tickets, each on one
    line cut to ``width`` characters."""
    out = {}
    for sp, h in zip(specs, sample_hits(specs, L, L_dev, ds.pool, ds.gold_dev, n)):
        out[sp.id] = {"ok": [one_line(t, width) for t in h["correct"]["text"]],
                      "bad": [f"(true: {g}) {one_line(t, width)}" for g, t in zip(h["incorrect"]["tag"],
                                                                                  h["incorrect"]["text"])],
                      "pool": [one_line(t, width) for t in h["unlabeled"]["text"]]}
    return out


def write_lf_examples(run_dir: Path, specs: list[LFSpec], L: np.ndarray, L_dev: np.ndarray, ds: Dataset,
                      n: int = 3) -> None:
    atomic_write_text(run_dir / "lf_examples.json", json.dumps(lf_examples(specs, L, L_dev, ds, n), indent=1))


def rounds_table(rounds: list[dict], best: int, stop: str) -> str:
    lines = ["| round | LFs (generated) | added | retired | rejected | dev gate macro-F1 | dev select macro-F1 | tokens | cost $ |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rounds:
        u = r.get("usage") or {}
        tok = int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
        lines.append(f"| {r['round']}{' (best)' if r['round'] == best else ''} | {r['active_lfs']} ({r['generated_lfs']}) | "
                     f"{len(r.get('added', []))} | {len(r.get('retired', []))} | {r.get('rejected', 0)} | "
                     f"{r['dev_gate_macro_f1']:.4f} | {r['dev_select_macro_f1']:.4f} | {tok} | {u.get('cost_usd', 0):.4f} |")
    lines.append(f"\nStopped: {stop}. Tokens and cost are those spent proposing after that round's scores.")
    return "\n".join(lines)


def write_summary(run_dir: Path, metrics: dict, results: dict) -> None:
    lm = metrics["label_model"]
    lines = [f"# Run {metrics['run']}", "", "## gold_test scores", "", summary_table(results), "",
             "## Label model (gold_dev, covered tickets)", "",
             "| aggregator | dev accuracy |", "|---|---|",
             f"| {lm['method']} | {lm['gold_dev_accuracy_label_model']:.4f} |",
             f"| majority vote | {lm['gold_dev_accuracy_majority_vote']:.4f} |", "",
             f"LFs: {lm['n_lfs']}, pool coverage {lm['coverage']:.3f}, label-model fit {lm['fit_seconds']:.1f}s, "
             f"peak RSS {metrics['peak_rss_mb']:.0f} MB", "",
             "## Most confused tag pairs (model, gold_test)", "", "| true | predicted | count |", "|---|---|---|"]
    lines += [f"| {c['true']} | {c['pred']} | {c['count']} |" for c in results["model"]["top_confusions"][:10]]
    sel = metrics.get("selection")
    if sel and not sel["table"]:
        lines += ["", "## Training recipe", "", f"{sel.get('note', 'no CV')}: `{sel['chosen']['name']}`."]
    elif sel:
        lines += ["", f"## Training recipe ({sel['folds']}-fold CV on gold_dev)", "",
                  f"Scored on {sel.get('scored_tickets', '?')} gold_dev tickets; "
                  f"{sel.get('never_scored_seen_tickets', 0)} tickets that LF proposers or the gate saw train in every "
                  f"fold and are never scored (holdout: {sel.get('holdout', 'all')})."
                  + (f" {sel['note']}." if sel.get("note") else ""), "",
                  "| recipe | CV macro-F1 | std |", "|---|---|---|"]
        lines += [f"| {r['recipe']}{' (chosen)' if r['recipe'] == sel['chosen']['name'] else ''} | "
                  f"{r['cv_macro_f1_mean']:.4f} | {r['cv_macro_f1_std']:.4f} |" for r in sel["table"]]
    ref = metrics.get("refinement")
    if ref:
        lines += ["", "## Refinement rounds (gold_dev split: gate / select halves)", "",
                  rounds_table(ref["rounds"], ref["best_round"], ref["stop_reason"])]
    lines += ["", "Plots: `per_tag_f1.png`, `confusion_top.png`; everything, explained, in `report.html`."]
    lines += ["", "## Ingest", "", "```", json.dumps(metrics["ingest"], indent=2), "```", "",
              "## Timings (s)", "", "```", json.dumps(metrics["timings_s"], indent=2), "```"]
    atomic_write_text(run_dir / "summary.md", "\n".join(lines) + "\n")
