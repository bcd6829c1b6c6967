"""Scoring against expert gold labels: per-tag precision/recall/F1, macro and micro F1, accuracy,
confusion matrix, most-confused pairs, and the binary fees task when the tag list has ``fees_group``;
``plot_results`` writes the run's PNG plots (drawn by ``models/plots.py``, where every plot lives)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support


def score(y_true: Sequence[str], y_pred: Sequence[str], tags: Sequence[str],
          fees_tags: Sequence[str] | None = None, top_confusions: int = 15) -> dict:
    tags = list(tags)
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=tags, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=tags)
    off = [(tags[i], tags[j], int(cm[i, j])) for i in range(len(tags)) for j in range(len(tags))
           if i != j and cm[i, j] > 0]
    off.sort(key=lambda x: -x[2])
    out = {
        "n": int(len(y_true)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=tags, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y_true, y_pred, labels=tags, average="micro", zero_division=0)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "per_tag": {t: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                    for i, t in enumerate(tags)},
        "top_confusions": [{"true": a, "pred": b, "count": c} for a, b, c in off[:top_confusions]],
        "confusion_matrix": cm.tolist(),
    }
    if fees_tags:
        fs = set(fees_tags)
        t = np.array([y in fs for y in y_true])
        q = np.array([y in fs for y in y_pred])
        tp, fp, fn = int((t & q).sum()), int((~t & q).sum()), int((t & ~q).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        out["fees_task"] = {"precision": prec, "recall": rec,
                            "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, "support": int(t.sum())}
    return out


def summary_table(results: dict[str, dict]) -> str:
    """Markdown table: one row per model, macro-F1 / micro-F1 / accuracy (+ fees F1)."""
    has_fees = any("fees_task" in r for r in results.values())
    head = "| model | macro-F1 | micro-F1 | accuracy |" + (" fees P | fees R | fees F1 |" if has_fees else "")
    sep = "|---|---|---|---|" + ("---|---|---|" if has_fees else "")
    rows = [head, sep]
    for name, r in results.items():
        line = f"| {name} | {r['macro_f1']:.4f} | {r['micro_f1']:.4f} | {r['accuracy']:.4f} |"
        if has_fees:
            ft = r.get("fees_task")
            line += f" {ft['precision']:.3f} | {ft['recall']:.3f} | {ft['f1']:.3f} |" if ft else " | | |"
        rows.append(line)
    return "\n".join(rows)


def per_tag_frame(results: dict[str, dict]) -> pd.DataFrame:
    frames = []
    for name, r in results.items():
        df = pd.DataFrame(r["per_tag"]).T.rename_axis("tag").reset_index()
        df.insert(0, "model", name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def plot_results(results: dict[str, dict], tags: Sequence[str], out_dir) -> list:
    """PNG files: per-tag F1 of the model against the baselines (``per_tag_f1.png``) and the most
    confused tags (``confusion_top.png``); the same figures the report inlines."""
    from pathlib import Path

    from models.plots import plot_confusion, plot_per_tag_f1

    out_dir = Path(out_dir)
    names = list(results)
    p1 = out_dir / "per_tag_f1.png"
    p1.write_bytes(plot_per_tag_f1(per_tag_frame(results), {n: results[n]["macro_f1"] for n in names}))
    p2 = out_dir / "confusion_top.png"
    p2.write_bytes(plot_confusion(results[names[0]]["confusion_matrix"], tags))
    return [p1, p2]
