"""What the web app reads from run directories and the LF store (never gold_test scores).

A run directory's ``metrics.json`` holds gold_test scores under ``test``: :func:`run_metrics` drops that
key as soon as the file is read, so no page can show them. Per-tag deltas come from ``lf_summary.csv``
(the LFs' gold_dev hits per tag) and ``train_labels.parquet`` (training labels per tag).
"""
from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import pandas as pd
from filelock import FileLock

from data.atomic import atomic_path

RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
REVIEW_COLUMNS = ["ticket_id", "tag", "by", "at", "run", "reason", "text"]


def run_dir(runs_root: Path, name: str) -> Path | None:
    """The run folder ``name`` directly under ``runs_root``, or None: no separators, no ``..``, no links out."""
    if not RUN_NAME.match(name or "") or ".." in name:
        return None
    root = runs_root.resolve()
    p = (root / name).resolve()
    if p.parent != root or not (p / "metrics.json").is_file():
        return None
    return p


def list_runs(runs_root: Path) -> list[dict]:
    out = []
    if not runs_root.is_dir():
        return out
    for p in runs_root.iterdir():
        if not (p / "metrics.json").is_file() or not RUN_NAME.match(p.name):
            continue
        m = run_metrics(p)
        lm, sel = m.get("label_model", {}), m.get("selection", {})
        out.append({"name": p.name, "mtime": p.stat().st_mtime,
                    "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(p.stat().st_mtime)),
                    "n_lfs": lm.get("n_lfs"), "recipe": (sel.get("chosen") or {}).get("name"),
                    "cv_macro_f1": chosen_cv(sel), "lm_dev_acc": lm.get("gold_dev_accuracy_label_model"),
                    "report": (p / "report.html").is_file(), "issues": (p / "label_issues.csv").is_file()})
    return sorted(out, key=lambda r: r["mtime"], reverse=True)


def run_metrics(path: Path) -> dict:
    m = json.loads((path / "metrics.json").read_text())
    m.pop("test", None)  # gold_test: final scoring only, never shown for review
    return m


def chosen_cv(sel: dict) -> float | None:
    name = (sel.get("chosen") or {}).get("name")
    for r in sel.get("table") or []:
        if r.get("recipe") == name:
            return r.get("cv_macro_f1_mean")
    return None


def _per_tag(path: Path) -> pd.DataFrame:
    """Per tag: the run's LFs, their gold_dev hits and precision (``lf_summary.csv``), its training labels
    (``train_labels.parquet``) and the out-of-fold gold_dev F1 of the chosen recipe (``per_tag_cv.csv``)."""
    cols = ["lfs", "dev_hits", "dev_correct", "train_labels", "cv_f1"]
    parts = []
    if (path / "lf_summary.csv").exists():
        s = pd.read_csv(path / "lf_summary.csv")
        if "dev_correct" in s:
            s["dev_hits"] = s["dev_correct"] + s["dev_incorrect"]
            parts.append(s.groupby("tag").agg(lfs=("id", "count"), dev_hits=("dev_hits", "sum"),
                                              dev_correct=("dev_correct", "sum")))
    if (path / "train_labels.parquet").exists():
        t = pd.read_parquet(path / "train_labels.parquet", columns=["label"])
        parts.append(t["label"].value_counts().rename("train_labels").to_frame())
    if (path / "per_tag_cv.csv").exists():
        parts.append(pd.read_csv(path / "per_tag_cv.csv").set_index("tag")[["f1"]].rename(columns={"f1": "cv_f1"}))
    df = pd.concat(parts, axis=1) if parts else pd.DataFrame(columns=cols)
    for c in cols:
        if c not in df:
            df[c] = float("nan")
    df["dev_precision"] = df["dev_correct"] / df["dev_hits"].where(df["dev_hits"] > 0)
    return df


PER_TAG = ("lfs", "dev_hits", "dev_precision", "train_labels", "cv_f1")


def compare_runs(a: Path, b: Path) -> dict:
    """LFs added, removed and changed and the gold_dev / CV deltas (:func:`tagger.lf_tools.diff_runs`, as
    ``tagger lf diff``), a few more gold_dev figures, and per-tag deltas. No gold_test number: any metric
    of ``diff_runs`` outside ``selection`` and ``label_model`` is left out, and :func:`run_metrics` drops
    ``test``."""
    from tagger.lf_tools import diff_runs

    d = diff_runs(a, b)
    metrics = [{"name": k, "a": x, "b": y, "delta": dl} for k, (x, y, dl) in sorted(d["metrics"].items())
               if k.split(".")[0] in ("selection", "label_model")]
    ma, mb = run_metrics(a), run_metrics(b)
    for m, k in (("label_model", "gold_dev_coverage"), ("selection", "scored_tickets"), ("training", "tickets"),
                 ("training", "weak_labels_pruned")):
        x, y = ma.get(m, {}).get(k), mb.get(m, {}).get(k)
        num = isinstance(x, (int, float)) and isinstance(y, (int, float))
        metrics.append({"name": f"{m}.{k}", "a": x, "b": y, "delta": (y - x) if num else None})
    recipes = tuple((m.get("selection", {}).get("chosen") or {}).get("name") for m in (ma, mb))
    pa, pb = _per_tag(a), _per_tag(b)
    nan = float("nan")
    per_tag = []
    for t in sorted(set(pa.index) | set(pb.index)):
        row = {"tag": t}
        for c in PER_TAG:
            x, y = (p[c].get(t, nan) if len(p) else nan for p in (pa, pb))
            row[c] = (x, y, y - x)
        per_tag.append(row)

    def size(r):  # largest change of out-of-fold F1 first, then of LF precision
        return tuple(-abs(r[c][2]) if r[c][2] == r[c][2] else 0 for c in ("cv_f1", "dev_precision"))

    per_tag.sort(key=lambda r: (size(r), r["tag"]))
    return {"added": d["added"], "removed": d["removed"], "changed": d["changed"], "metrics": metrics,
            "recipes": recipes, "per_tag": per_tag}


# ---- label issues and the gold_review set ----

def review_files(runs_root: Path) -> tuple[Path, Path]:
    """``gold_review.csv`` (confirmed tags: a set of its own, never mixed into gold_test) and
    ``gold_review_skipped.csv``, in the runs folder."""
    return runs_root / "gold_review.csv", runs_root / "gold_review_skipped.csv"


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def reviewed_ids(runs_root: Path) -> set[str]:
    g, s = review_files(runs_root)
    return set(_read(g)["ticket_id"]) | set(_read(s)["ticket_id"])


def label_issues(path: Path, runs_root: Path) -> tuple[pd.DataFrame, int]:
    df = pd.read_csv(path / "label_issues.csv", dtype={"ticket_id": str})
    for c in ("operator_tag", "weak_label", "model_tag", "text"):
        if c not in df:
            df[c] = ""
    df = df.fillna("")
    done = df["ticket_id"].isin(reviewed_ids(runs_root))
    return df[~done], int(done.sum())


def record_review(runs_root: Path, run: str, ticket_id: str, tag: str | None, by: str, reason: str, text: str) -> Path:
    """Append one decision (a confirmed tag to ``gold_review.csv``, a skip to the skipped list) under a
    file lock, rewriting the file atomically. A ticket confirmed again gets its latest tag."""
    g, s = review_files(runs_root)
    target = g if tag else s
    row = {"ticket_id": ticket_id, "tag": tag or "", "by": by, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "run": run,
           "reason": reason, "text": text}
    with FileLock(str(g) + ".lock"):
        df = _read(target)
        df = pd.concat([df[df["ticket_id"] != ticket_id], pd.DataFrame([row])], ignore_index=True)[REVIEW_COLUMNS]
        with atomic_path(target) as tmp:
            df.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL)
    return target
