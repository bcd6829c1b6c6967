"""The run report's content, read from a run directory's files: the template context that
:func:`build_context` returns.

It reads ``metrics.json``, ``lfs.yaml``, the CSV tables (``per_tag.csv``, ``confusion.csv``,
``per_tag_cv.csv``, ``lf_summary.csv``, ``label_issues.csv``), ``lf_examples.json`` and the
refinement loop's files, and turns them into each section's rows and columns and figures (drawn by
``models/plots.py``). A missing, empty or malformed table leaves its section empty instead of
failing; only a missing or unreadable ``metrics.json`` means the directory is not a finished run.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from models.plots import plot_confusion, plot_per_tag_f1, plot_rounds
from tagger.report_format import col, fmt, missing, png_image
from tagger.report_text import (
    BASELINES,
    DEFAULT_LM_CAVEAT,
    GLOSSARY,
    RECIPE_PARTS,
    SECTION_HELP,
    SECTIONS,
    explain_recipe,
    slug,
)

MAX_EXAMPLE_LFS = 400
MAX_ISSUES = 10
CV_TAGS_SHOWN = 12


# ---- reading the run -----------------------------------------------------------------------------

def _csv(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return None


def _json(path: Path, default):
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default
    except (json.JSONDecodeError, OSError):
        return default


def _yaml_lfs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return []
    lfs = doc.get("lfs", []) if isinstance(doc, dict) else doc if isinstance(doc, list) else []
    return [x for x in lfs if isinstance(x, dict)]


def _scores(m: dict) -> tuple[list[dict], list[dict]]:
    test = m.get("test") or {}
    has_fees = any("fees_task" in v for v in test.values())
    rows = []
    for k, v in test.items():
        ft = v.get("fees_task") or {}
        rows.append({"model": k, "what": BASELINES.get(k, ""), "macro_f1": v.get("macro_f1"),
                     "micro_f1": v.get("micro_f1"), "accuracy": v.get("accuracy"), "n": v.get("n"),
                     "fees_p": ft.get("precision"), "fees_r": ft.get("recall"), "fees_f1": ft.get("f1"),
                     "_cls": "main" if k == "model" else ""})
    cols = [col("model"), col("what", "what it is", cls="wrap"), col("macro_f1", "macro-F1", "f4"),
            col("micro_f1", "micro-F1", "f4"), col("accuracy", kind="f4")]
    if has_fees:
        cols += [col("fees_p", "fees P", "f3"), col("fees_r", "fees R", "f3"), col("fees_f1", "fees F1", "f3")]
    cols.append(col("n", "tickets", "int"))
    return rows, cols


def _selection(run_dir: Path, m: dict) -> dict:
    sel = m.get("selection")
    chosen = ((m.get("training") or {}).get("recipe") or {}).get("name") or ((sel or {}).get("chosen") or {}).get("name")
    out = {"present": bool(sel), "chosen": chosen, "chosen_what": explain_recipe(chosen) if chosen else "",
           "note": (sel or {}).get("note"), "folds": (sel or {}).get("folds"), "rows": [], "cols": [],
           "holdout": (sel or {}).get("holdout"), "scored": (sel or {}).get("scored_tickets"),
           "seen": (sel or {}).get("never_scored_seen_tickets"), "cv_rows": [], "cv_more": [], "cv_cols": []}
    table = sorted((sel or {}).get("table") or [], key=lambda t: -(t.get("cv_macro_f1_mean") or 0))
    for t in table:
        folds = t.get("folds") or []
        out["rows"].append({"recipe": t.get("recipe"), "what": explain_recipe(t.get("recipe", "")),
                            "mean": t.get("cv_macro_f1_mean"), "std": t.get("cv_macro_f1_std"),
                            "folds": " · ".join(fmt(f, "f3") for f in folds),
                            "_cls": "main" if t.get("recipe") == chosen else ""})
    out["cols"] = [col("recipe", cls="mono"), col("what", "what it trains on", cls="wrap"),
                   col("mean", "CV macro-F1 (mean)", "f4"), col("std", "± std", "f4"),
                   col("folds", "per fold", cls="n")]
    cv = _csv(run_dir / "per_tag_cv.csv")
    if cv is None and (sel or {}).get("per_tag_cv"):
        cv = pd.DataFrame(sel["per_tag_cv"])
    if cv is not None and len(cv) and "f1" in cv.columns:
        cv = cv.sort_values(["f1", "tag"], kind="stable")
        rows = cv.to_dict("records")
        out["cv_rows"], out["cv_more"] = rows[:CV_TAGS_SHOWN], rows[CV_TAGS_SHOWN:]
        out["cv_cols"] = [col("tag")] + [col(c, kind="f3") for c in ("precision", "recall", "f1") if c in cv.columns] \
            + ([col("support", "n", "int")] if "support" in cv.columns else [])
    return out


def _lf_table(run_dir: Path, lfs: list[dict]) -> tuple[list[dict], list[dict]]:
    meta = {str(x.get("id")): x for x in lfs}
    summ = _csv(run_dir / "lf_summary.csv")
    if summ is None or not len(summ):
        rows = [{"id": str(x.get("id")), "tag": x.get("tag"), "kind": x.get("kind"), "author": x.get("author"),
                 "status": x.get("status")} for x in lfs]
    else:
        summ["id"] = summ["id"].astype(str)
        rows = summ.sort_values(["tag", "id"], kind="stable").to_dict("records")
    for r in rows:
        spec = meta.get(r["id"], {})
        prov = spec.get("provenance") or {}
        r["round"] = prov.get("round")
        r["rationale"] = spec.get("rationale")
        for k in ("tag", "kind", "author", "status"):
            if missing(r.get(k)) and spec.get(k) is not None:
                r[k] = spec.get(k)
    cols = [col("id", cls="id sticky"), col("tag", cls="tag", joints=True), col("kind"),
            col("author", joints=True),
            col("round", kind="int"), col("status"),
            col("coverage", kind="f3"), col("overlaps", kind="f3"), col("conflicts", kind="f3"),
            col("dev_precision", "dev precision", "f3"), col("dev_recall", "dev recall", "f3"),
            col("dev_correct", "dev correct", "int"), col("dev_incorrect", "dev incorrect", "int"),
            col("hits", kind="int")]
    keep = {"id", "tag", "kind", "author", "round", "status"}
    have = set().union(*(r.keys() for r in rows)) if rows else set()
    cols = [c for c in cols if c["key"] in keep or c["key"] in have]
    return rows, cols


def _examples(run_dir: Path, lf_rows: list[dict]) -> tuple[list[dict], int]:
    """The example hits of the first ``MAX_EXAMPLE_LFS`` LFs, and how many LFs have examples."""
    ex = _json(run_dir / "lf_examples.json", {})
    if not isinstance(ex, dict):
        return [], 0
    rationale = {r["id"]: r.get("rationale") for r in lf_rows}
    anchors = {r["id"]: i for i, r in enumerate(lf_rows)}
    out = []
    for lf_id, e in list(ex.items())[:MAX_EXAMPLE_LFS]:
        e = e if isinstance(e, dict) else {}
        out.append({"id": lf_id, "anchor": anchors.get(lf_id), "rationale": rationale.get(lf_id),
                    "ok": e.get("ok") or [], "bad": e.get("bad") or [], "pool": e.get("pool") or []})
    return out, len(ex)


def _rounds(m: dict, run_dir: Path) -> dict:
    ref = m.get("refinement") or {}
    rounds = ref.get("rounds") or _json(run_dir / "refine" / "rounds.json", [])
    rounds = [r for r in rounds if isinstance(r, dict) and r.get("round") is not None]
    def count(r: dict, k: str):  # a list of LF ids or already a number
        return len(r[k]) if isinstance(r.get(k), list) else r.get(k)

    rows = []
    for r in rounds:
        rows.append({"round": r.get("round"), "active_lfs": r.get("active_lfs"), "generated_lfs": r.get("generated_lfs"),
                     "proposed": r.get("proposed"), "added": count(r, "added"), "rejected": count(r, "rejected"),
                     "retired": count(r, "retired"), "pool_coverage": r.get("pool_coverage"),
                     "gate": r.get("dev_gate_macro_f1"), "select": r.get("dev_select_macro_f1"),
                     "label_model": r.get("label_model"),
                     "_cls": "main" if r.get("round") == ref.get("best_round") else ""})
    cols = [col("round", kind="int"), col("active_lfs", "active LFs", "int"),
            col("generated_lfs", "generated LFs", "int"), col("proposed", "proposed next", "int"),
            col("added", "accepted next", "int"), col("rejected", "rejected next", "int"),
            col("retired", "retired next", "int"), col("pool_coverage", "pool coverage", "f3"),
            col("gate", "gating-half macro-F1", "f4"), col("select", "selection-half macro-F1", "f4"),
            col("label_model", "aggregator")]
    best = ref.get("best_round")
    img = png_image(plot_rounds(rounds, best), "gold_dev macro-F1 per refinement round") if rounds else None
    return {"present": bool(rounds), "rows": rows, "cols": cols, "img": img, "best_round": best,
            "stop_reason": ref.get("stop_reason"), "kept": ref.get("kept_round"), "split": ref.get("split") or {},
            "generated": ref.get("generated_lfs"), "used": ref.get("used_lfs"), "rejected": ref.get("rejected"),
            "rounds": rounds}


def _proposers(m: dict, run_dir: Path, lfs: list[dict]) -> set[str]:
    """The LF proposers the refinement loop used, as far as the run's files tell."""
    ref = m.get("refinement") or {}
    found = {str(ref[k]) for k in ("proposer", "backend") if ref.get(k)}
    for spec in lfs + _yaml_lfs(run_dir / "refine" / "generated_lfs.yaml"):
        prov = spec.get("provenance") or {}
        if prov.get("round") is not None and prov.get("backend"):
            found.add(str(prov["backend"]))
        elif prov.get("round") is not None and str(spec.get("author", "")).startswith("miner:"):
            found.add("miner")
    return found


def _usage(m: dict, run_dir: Path, lfs: list[dict], rounds: list[dict]) -> dict:
    keys = ("requests", "prompt_tokens", "completion_tokens", "cost_usd", "cache_hits")
    rows = [{"round": r["round"], **{k: (r.get("usage") or {}).get(k, 0) for k in keys}} for r in rounds if "usage" in r]
    proposers = _proposers(m, run_dir, lfs)
    total = {k: sum(float(r[k] or 0) for r in rows) for k in keys}
    out = {"rows": rows, "total": {"round": "total", **total, "_cls": "main"}, "proposers": sorted(proposers),
           "refined": bool(rounds), "all_zero": bool(rows) and not any(total.values()),
           "miner": "miner" in proposers,
           "cols": [col("round", "proposals after round", "int"), col("requests", kind="int"),
                    col("prompt_tokens", "prompt tokens", "int"), col("completion_tokens", "completion tokens", "int"),
                    col("cost_usd", "cost (USD)", "usd"), col("cache_hits", "cache hits", "int")]}
    return out


def _label_model(m: dict) -> dict:
    lm = m.get("label_model") or {}
    rows = [{"aggregator": lm.get("method", lm.get("kind")), "acc": lm.get("gold_dev_accuracy_label_model"),
             "_cls": "main"},
            {"aggregator": "majority vote", "acc": lm.get("gold_dev_accuracy_majority_vote")}]
    return {"rows": rows, "cols": [col("aggregator"), col("acc", "gold_dev accuracy (optimistic)", "f4")],
            "caveat": lm.get("note") or DEFAULT_LM_CAVEAT, "n_lfs": lm.get("n_lfs"), "families": lm.get("families") or [],
            "coverage": lm.get("coverage"), "dev_coverage": lm.get("gold_dev_coverage"),
            "fit_seconds": lm.get("fit_seconds"), "method": lm.get("method"),
            "fallback": str(lm.get("method", "")).startswith("majority")}


def _issues(run_dir: Path) -> dict:
    df = _csv(run_dir / "label_issues.csv")
    if df is None:
        return {"present": False}
    total = len(df)
    if {"weak_label", "model_tag", "model_probability"} <= set(df.columns):  # confident disagreements first
        df = df.assign(_agree=df["weak_label"] == df["model_tag"]).sort_values(
            ["_agree", "model_probability"], ascending=[True, False], kind="stable").drop(columns="_agree")
    df = df.head(MAX_ISSUES).copy()
    if "text" in df.columns:
        df["text"] = df["text"].astype(str).str.replace("\n", " | ", regex=False).map(
            lambda t: t if len(t) <= 160 else t[:159] + "…")
    known = {"ticket_id": col("ticket_id", "ticket", cls="mono"),
             "weak_label": col("weak_label", "weak label", joints=True),
             "weak_confidence": col("weak_confidence", "weak conf.", "f2"),
             "operator_tag": col("operator_tag", "operator tag", joints=True),
             "model_tag": col("model_tag", "model's tag", joints=True),
             "model_probability": col("model_probability", "model prob.", "f2"), "text": col("text", cls="text")}
    cols = [known.get(c, col(c)) for c in df.columns]
    return {"present": True, "total": total, "shown": len(df), "rows": df.to_dict("records"), "cols": cols}


def _confusions(m: dict) -> list[dict]:
    return [c for c in ((m.get("test") or {}).get("model") or {}).get("top_confusions", [])[:10] if isinstance(c, dict)]


def _figures(run_dir: Path, m: dict) -> dict:
    """The gold_test figures, drawn from per_tag.csv and confusion.csv (the PNG files of the run when
    those tables are missing)."""
    out = {"per_tag": None, "confusion": None}
    pt = _csv(run_dir / "per_tag.csv")
    macro = {k: v.get("macro_f1") for k, v in (m.get("test") or {}).items()}
    if pt is not None and len(pt) and {"model", "tag", "f1"} <= set(pt.columns):
        out["per_tag"] = png_image(plot_per_tag_f1(pt, macro), "per-tag F1 on gold_test")
    elif (run_dir / "per_tag_f1.png").exists():
        out["per_tag"] = png_image((run_dir / "per_tag_f1.png").read_bytes(), "per-tag F1 on gold_test")
    cm = _csv(run_dir / "confusion.csv")
    if cm is not None and len(cm) and len(cm.columns) == len(cm) + 1:  # first column: the true tag
        cm = cm.set_index(cm.columns[0])
        out["confusion"] = png_image(plot_confusion(cm.to_numpy(dtype=float), list(cm.columns)),
                                     "most confused tags on gold_test")
    elif (run_dir / "confusion_top.png").exists():
        out["confusion"] = png_image((run_dir / "confusion_top.png").read_bytes(), "most confused tags on gold_test")
    return out


def build_context(run_dir: str | Path) -> dict:
    """Everything the template shows, read from the run directory's files."""
    run_dir = Path(run_dir)
    m = _json(run_dir / "metrics.json", None)
    if m is None:
        raise FileNotFoundError(f"{run_dir / 'metrics.json'} is missing or unreadable: not a finished run directory")
    lfs = _yaml_lfs(run_dir / "lfs.yaml")
    lf_rows, lf_cols = _lf_table(run_dir, lfs)
    examples, examples_total = _examples(run_dir, lf_rows)
    rounds = _rounds(m, run_dir)
    scores, score_cols = _scores(m)
    ingest = m.get("ingest") or {}
    q = ingest.get("quarantine_reasons") or {}
    ds = m.get("dataset") or {}
    training = m.get("training") or {}
    return {
        "m": m, "run": m.get("run", run_dir.name), "config": m.get("config"), "n_tags": ds.get("tags"),
        "mode": training.get("mode"), "pool_rows": ingest.get("pool_rows"), "gold_dev_rows": ingest.get("gold_dev_rows"),
        "train_tickets": training.get("tickets"), "pruned": training.get("weak_labels_pruned"),
        "seconds": (m.get("timings_s") or {}).get("total"), "peak_rss_mb": m.get("peak_rss_mb"),
        "sections": [{"name": s, "id": slug(s)} for s in SECTIONS], "section_help": SECTION_HELP,
        "scores": scores, "score_cols": score_cols, "figures": _figures(run_dir, m), "confusions": _confusions(m),
        "selection": _selection(run_dir, m), "rounds": rounds, "label_model": _label_model(m),
        "lf_rows": lf_rows, "lf_cols": lf_cols, "examples": examples,
        "examples_total": examples_total, "max_example_lfs": MAX_EXAMPLE_LFS,
        "issues": _issues(run_dir),
        "quarantine": [{"reason": k, "rows": v} for k, v in q.items()],
        "quarantine_cols": [col("reason"), col("rows", kind="int")],
        "operator_tag_unknown": ingest.get("operator_tag_unknown"),
        "usage": _usage(m, run_dir, lfs, rounds["rounds"]),
        "glossary": GLOSSARY, "recipe_parts": RECIPE_PARTS,
    }
