"""The run report: one self-contained HTML file (plots inlined as PNG data URIs, no script, no
network asset), rendered from the run directory's files by the autoescaped Jinja2 template
``tagger/templates/report.html``.

Sections: final scores on gold_test (model against the baselines, per-tag F1, the most-confused
tags), then what was decided on gold_dev only: the recipe selection (CV table, the chosen recipe's
out-of-fold per-tag F1), the refinement rounds, label model vs majority vote (with its optimism
caveat), the LF table (coverage, overlap, conflict, dev precision, hits, author, round, status) with
example hits per LF, the flagged label issues, quarantine counts, LLM usage and a glossary. Every
figure is drawn by ``models/plots.py``.
"""
from __future__ import annotations

import base64
import json
import math
import struct
from pathlib import Path

import pandas as pd
import yaml

from models.plots import plot_confusion, plot_per_tag_f1, plot_rounds

SECTIONS = ["Scores", "Per-tag F1", "Confused tags", "Recipe selection", "Refinement rounds", "Label model",
            "Labeling functions", "Label issues", "Quarantine", "LLM usage", "Glossary"]
TEMPLATE = "report.html"
MAX_EXAMPLE_LFS = 400
MAX_ISSUES = 10
CV_TAGS_SHOWN = 12

BASELINES = {
    "model": "this run's model: the chosen recipe, trained on weak labels and/or gold_dev",
    "baseline_gold_dev_only": "the same head trained on gold_dev alone (the expert examples, no weak labels)",
    "baseline_operator_tags": "the same head trained on the operators' own tags (pool tickets that have one)",
    "baseline_majority_vote": "the same head trained on the majority vote of the LF families (no label model)",
}

RECIPE_PARTS = [
    ("weak", "weak labels from the label model"),
    ("dev_wN", "plus the gold_dev examples at weight N"),
    ("confX", "only weak labels whose top probability is ≥ X"),
    ("prune", "confident-learning pruning: weak labels an out-of-fold model doubts are left out"),
    ("dev_only", "gold_dev alone, no weak labels"),
    ("self_train", "self-training: pool tickets without a weak label get the head's confident predictions"),
    ("boostA", "the LF-vote bonus: the text LFs' votes added to the head's scores at weight A"),
    ("char", "features: MiniLM embedding plus the character n-gram (LSA) block; without it, the embedding only"),
]

GLOSSARY = [
    ("gold_dev", "the small expert-labelled development set; it measures LFs, seeds the label model, gates "
                 "refinement and cross-validates recipes. Every choice in this report is made on it."),
    ("gold_test", "the expert-labelled test set, read once, by the final scoring; only the final-scores "
                  "section uses it."),
    ("pool", "the unlabelled tickets the LFs vote on and the model is trained on."),
    ("weak label", "the tag (a probability per tag) the label model gives a pool ticket from its LFs' votes."),
    ("precision / recall / F1", "of a tag: share of tickets given the tag that truly have it / share of tickets "
                                "that have it that got it / their harmonic mean. support (n): tickets that truly "
                                "have the tag."),
    ("macro-F1", "the mean of the per-tag F1s: every tag counts the same, rare ones included."),
    ("micro-F1", "F1 over all tickets pooled; with one tag per ticket it equals accuracy."),
    ("accuracy", "share of tickets whose predicted tag is the true tag."),
    ("fees task", "a yes/no question scored on the same predictions: is the ticket about a fee? The tags "
                  "marked fees_group in the tag list are the positives; fees P / R / F1 are precision, "
                  "recall and F1 of that binary task."),
    *BASELINES.items(),
    ("CV macro-F1", "macro-F1 of a recipe on held-out gold_dev folds (mean ± standard deviation over the folds)."),
    ("out-of-fold", "each gold_dev ticket predicted by the recipe trained without that ticket's fold."),
    ("gating / selection half", "refinement splits gold_dev: proposals are written and gated on the gating half; "
                                "the selection half, never shown to a proposer, picks the best round."),
    ("label model", "Snorkel's LabelModel over the LF source families; it weighs each family by its estimated "
                    "accuracy. majority vote: every family counts the same."),
    ("coverage", "share of pool tickets the LF fires on."),
    ("overlaps", "share of pool tickets where the LF fires along with another LF."),
    ("conflicts", "share of pool tickets where another LF fires with a different tag."),
    ("hits", "pool tickets the LF fires on."),
    ("dev correct / incorrect / precision / recall",
     "on gold_dev: hits with the LF's tag right / wrong, correct ÷ (correct + incorrect), and correct ÷ "
     "gold_dev tickets of that tag."),
    ("round", "the refinement round that produced the LF (– for the initial LFs)."),
    ("status", "proposed / active / rejected / retired; only active LFs feed training."),
]

SECTION_HELP = {
    "scores": "The model against three baselines on gold_test, the expert test set read once, after every "
              "choice below was made on gold_dev.",
    "per-tag-f1": "F1 of each tag on gold_test: filled dots are the model (value and support at the right), "
                  "hollow markers the baselines; weakest tags first.",
    "confused-tags": "Which tags the model mixes up on gold_test: rows are the true tag, columns the predicted "
                     "one, coloured by mistaken tickets; only the tags of the most frequent mix-ups.",
    "recipe-selection": "How the training recipe was chosen: every candidate recipe cross-validated on gold_dev "
                        "(never gold_test); the best one was trained on everything.",
    "refinement-rounds": "The LF refinement loop: each round new LFs are proposed and gated on one half of "
                         "gold_dev; the weak labels' macro-F1 is followed on both halves and the best round kept.",
    "label-model": "How the LFs' votes become training labels: the label model against a plain majority vote, "
                   "on the gold_dev tickets some LF covers.",
    "labeling-functions": "Every LF the run used: how much of the pool it fires on, how often it agrees or "
                          "clashes with others, and how precise it is on gold_dev.",
    "label-issues": "Pool tickets whose weak label the confident-learning step doubted and left out of training: "
                    "a review list of likely mis-tagged tickets.",
    "quarantine": "Input rows set aside instead of used, by reason (the rows themselves are in quarantine.csv).",
    "llm-usage": "What the LF proposer of the refinement loop cost, per round: requests, tokens, dollars, "
                 "cache hits.",
    "glossary": "What the metrics, the models and the recipe names mean.",
}

DEFAULT_LM_CAVEAT = ("optimistic: exemplar LFs are scored leave-one-out and the label model's seeds come from "
                     "gold_dev, so gold_dev is not unseen by the labels scored here")


def slug(name: str) -> str:
    return name.lower().replace(" ", "-")


# ---- formatting (the template's ``fmt`` filter) ----------------------------------------------------

def _missing(x) -> bool:
    if x is None:
        return True
    if isinstance(x, float) and math.isnan(x):
        return True
    if isinstance(x, str) and x.strip() in ("", "nan", "None"):
        return True
    try:
        return bool(pd.isna(x)) if not isinstance(x, (list, dict, tuple)) else False
    except (TypeError, ValueError):
        return False


def fmt(x, kind: str = "text") -> str:
    """A cell as text: ``int`` (rounds, counts: integers with thousands separators), ``f3``/``f4``
    (3 or 4 decimals), ``usd``, ``text``; a missing value is "–"."""
    if _missing(x):
        return "–"
    try:
        if kind == "int":
            return f"{int(round(float(x))):,}"
        if kind in ("f2", "f3", "f4"):
            return f"{float(x):.{kind[1]}f}"
        if kind == "usd":
            return f"${float(x):,.4f}"
    except (TypeError, ValueError):
        return str(x)
    return str(x)


def wbr(text: str):
    """Escaped text with line-break opportunities after ``_``, ``:`` and ``/`` (long tag names wrap
    at their word joints instead of anywhere)."""
    from markupsafe import Markup, escape

    out = str(escape(text))
    for ch in ("_", ":", "/"):
        out = out.replace(ch, ch + "<wbr>")
    return Markup(out)


def _col(key, label=None, kind="text", cls="", help="", joints=False):
    """A table column: the row key, its header, the ``fmt`` kind, CSS classes, a header tooltip, and
    whether the text may wrap at ``_`` / ``:`` (``joints``)."""
    return {"key": key, "label": label or key.replace("_", " "), "fmt": kind,
            "cls": (cls or ("n" if kind != "text" else "")).strip(), "help": help, "wbr": joints}


# ---- images --------------------------------------------------------------------------------------

def png_image(png: bytes | None, alt: str) -> dict | None:
    """``{src, width, height, alt}`` of a PNG as a data URI, shown at its own pixel size."""
    if not png:
        return None
    w, h = struct.unpack(">II", png[16:24]) if png[:8] == b"\x89PNG\r\n\x1a\n" else (None, None)
    return {"src": "data:image/png;base64," + base64.b64encode(png).decode(), "width": w, "height": h, "alt": alt}


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


def explain_recipe(name: str) -> str:
    """A recipe name (``weak+dev_w5+conf0.5+prune+char``) in words."""
    words = []
    for part in str(name).split("+"):
        if part == "weak":
            words.append("weak labels")
        elif part.startswith("dev_w"):
            words.append(f"gold_dev ×{part[5:]}")
        elif part.startswith("conf"):
            words.append(f"weak labels with confidence ≥ {part[4:]}")
        elif part == "prune":
            words.append("doubtful weak labels pruned")
        elif part == "dev_only":
            words.append("gold_dev only")
        elif part == "self_train":
            words.append("self-training on the pool")
        elif part.startswith("boost"):
            words.append(f"LF-vote bonus {part[5:]}")
        elif part == "char":
            words.append("+ char n-gram features")
        else:
            words.append(part)
    return ", ".join(words)


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
    cols = [_col("model"), _col("what", "what it is", cls="wrap"), _col("macro_f1", "macro-F1", "f4"),
            _col("micro_f1", "micro-F1", "f4"), _col("accuracy", kind="f4")]
    if has_fees:
        cols += [_col("fees_p", "fees P", "f3"), _col("fees_r", "fees R", "f3"), _col("fees_f1", "fees F1", "f3")]
    cols.append(_col("n", "tickets", "int"))
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
    out["cols"] = [_col("recipe", cls="mono"), _col("what", "what it trains on", cls="wrap"),
                   _col("mean", "CV macro-F1 (mean)", "f4"), _col("std", "± std", "f4"),
                   _col("folds", "per fold", cls="n")]
    cv = _csv(run_dir / "per_tag_cv.csv")
    if cv is None and (sel or {}).get("per_tag_cv"):
        cv = pd.DataFrame(sel["per_tag_cv"])
    if cv is not None and len(cv) and "f1" in cv.columns:
        cv = cv.sort_values(["f1", "tag"], kind="stable")
        rows = cv.to_dict("records")
        out["cv_rows"], out["cv_more"] = rows[:CV_TAGS_SHOWN], rows[CV_TAGS_SHOWN:]
        out["cv_cols"] = [_col("tag")] + [_col(c, kind="f3") for c in ("precision", "recall", "f1") if c in cv.columns] \
            + ([_col("support", "n", "int")] if "support" in cv.columns else [])
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
            if _missing(r.get(k)) and spec.get(k) is not None:
                r[k] = spec.get(k)
    cols = [_col("id", cls="id sticky"), _col("tag", cls="tag", joints=True), _col("kind"),
            _col("author", joints=True),
            _col("round", kind="int"), _col("status"),
            _col("coverage", kind="f3"), _col("overlaps", kind="f3"), _col("conflicts", kind="f3"),
            _col("dev_precision", "dev precision", "f3"), _col("dev_recall", "dev recall", "f3"),
            _col("dev_correct", "dev correct", "int"), _col("dev_incorrect", "dev incorrect", "int"),
            _col("hits", kind="int")]
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
    cols = [_col("round", kind="int"), _col("active_lfs", "active LFs", "int"),
            _col("generated_lfs", "generated LFs", "int"), _col("proposed", "proposed next", "int"),
            _col("added", "accepted next", "int"), _col("rejected", "rejected next", "int"),
            _col("retired", "retired next", "int"), _col("pool_coverage", "pool coverage", "f3"),
            _col("gate", "gating-half macro-F1", "f4"), _col("select", "selection-half macro-F1", "f4"),
            _col("label_model", "aggregator")]
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
           "cols": [_col("round", "proposals after round", "int"), _col("requests", kind="int"),
                    _col("prompt_tokens", "prompt tokens", "int"), _col("completion_tokens", "completion tokens", "int"),
                    _col("cost_usd", "cost (USD)", "usd"), _col("cache_hits", "cache hits", "int")]}
    return out


def _label_model(m: dict) -> dict:
    lm = m.get("label_model") or {}
    rows = [{"aggregator": lm.get("method", lm.get("kind")), "acc": lm.get("gold_dev_accuracy_label_model"),
             "_cls": "main"},
            {"aggregator": "majority vote", "acc": lm.get("gold_dev_accuracy_majority_vote")}]
    return {"rows": rows, "cols": [_col("aggregator"), _col("acc", "gold_dev accuracy (optimistic)", "f4")],
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
    known = {"ticket_id": _col("ticket_id", "ticket", cls="mono"),
             "weak_label": _col("weak_label", "weak label", joints=True),
             "weak_confidence": _col("weak_confidence", "weak conf.", "f2"),
             "operator_tag": _col("operator_tag", "operator tag", joints=True),
             "model_tag": _col("model_tag", "model's tag", joints=True),
             "model_probability": _col("model_probability", "model prob.", "f2"), "text": _col("text", cls="text")}
    cols = [known.get(c, _col(c)) for c in df.columns]
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
        "quarantine_cols": [_col("reason"), _col("rows", kind="int")],
        "operator_tag_unknown": ingest.get("operator_tag_unknown"),
        "usage": _usage(m, run_dir, lfs, rounds["rounds"]),
        "glossary": GLOSSARY, "recipe_parts": RECIPE_PARTS,
    }


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.filters["wbr"] = wbr
    return env


def render_report(run_dir: str | Path) -> str:
    """The report page of a run directory, as HTML text."""
    return _env().get_template(TEMPLATE).render(**build_context(run_dir))


def write_report(run_dir: str | Path) -> Path:
    """(Re)write ``RUN_DIR/report.html``."""
    from data.atomic import atomic_write_text

    run_dir = Path(run_dir)
    out = run_dir / "report.html"
    atomic_write_text(out, render_report(run_dir))
    out.chmod(0o644)  # a page to share, like the run's other files (the atomic write's temp file is 0600)
    return out
