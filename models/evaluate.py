"""Scoring against expert gold labels: per-tag precision/recall/F1, macro and micro F1, accuracy,
confusion matrix, most-confused pairs, and the binary fees task when the tag list has ``fees_group``."""
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
    """PNG plots: per-tag F1 of the model against the baselines, and the most confused tag pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    out_dir = Path(out_dir)
    tags = list(tags)
    names = list(results)
    f1 = np.array([[results[n]["per_tag"][t]["f1"] for t in tags] for n in names])
    order = np.argsort(f1[0])
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.16 * len(tags) + 1.2)))
    h = 0.8 / len(names)
    for i, n in enumerate(names):
        ax.barh(np.arange(len(tags)) + i * h, f1[i, order], height=h, label=f"{n} ({results[n]['macro_f1']:.3f})")
    ax.set_yticks(np.arange(len(tags)) + 0.4 - h / 2)
    ax.set_yticklabels([tags[i] for i in order], fontsize=6 if len(tags) > 30 else 8)
    ax.set_xlabel("F1 on gold_test")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    p1 = out_dir / "per_tag_f1.png"
    fig.savefig(p1, dpi=110)
    plt.close(fig)

    cm = np.asarray(results[names[0]]["confusion_matrix"], dtype=float)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    score_ = off + off.T
    top = np.unique(np.concatenate(np.unravel_index(np.argsort(-score_, axis=None)[:20], score_.shape)))[:16]
    sub = cm[np.ix_(top, top)]
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(sub, cmap="Blues")
    ax.set_xticks(range(len(top)))
    ax.set_yticks(range(len(top)))
    ax.set_xticklabels([tags[i] for i in top], rotation=90, fontsize=7)
    ax.set_yticklabels([tags[i] for i in top], fontsize=7)
    for i in range(len(top)):
        for j in range(len(top)):
            if sub[i, j]:
                ax.text(j, i, int(sub[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if sub[i, j] > sub.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Most confused tags (gold_test)")
    fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    p2 = out_dir / "confusion_top.png"
    fig.savefig(p2, dpi=110)
    plt.close(fig)
    return [p1, p2]
