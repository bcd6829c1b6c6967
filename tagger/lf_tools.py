"""Analyst tools on LFs: measure specs on a dataset with sample hits (``tagger lf test`` / ``show``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from labeling_functions.analysis import lf_summary, sample_hits
from labeling_functions.apply import apply_lfs, compile_lfs
from labeling_functions.spec import LFSpec
from tagger.config import RunConfig


def measure(cfg: RunConfig, specs: list[LFSpec], n_samples: int = 5) -> list[dict]:
    """Per spec: gold_dev hits / precision / recall, pool coverage, and sample hits (correct and
    incorrect on gold_dev, and on unlabeled pool tickets). gold_test is not read."""
    from tagger.dataset import load_dataset, pool_reference

    ds = load_dataset(cfg)
    need_emb = any(s.kind in ("exemplar", "neighbor") for s in specs)
    enc = pool_emb = dev_emb = ref = None
    if need_emb:
        from tagger.pipeline import make_encoder

        enc = make_encoder(cfg)
        pool_emb, dev_emb = enc(ds.pool["text"].tolist()), enc(ds.gold_dev["text"].tolist())
        ref = pool_reference(cfg, ds, pool_emb)
    comp = compile_lfs(specs, ds.tags, embed=enc, reference=ref)
    Lp = apply_lfs(ds.pool, comp, pool_emb)
    Ld = apply_lfs(ds.gold_dev, comp, dev_emb)
    y = ds.gold_dev["tag"].map({t: i for i, t in enumerate(ds.tags)}).to_numpy()
    stats = lf_summary(Lp, specs, ds.tags, Y=y, L_dev=Ld)
    out = []
    for s, c, st, hits in zip(specs, comp, stats.to_dict("records"),
                              sample_hits(specs, Lp, Ld, ds.pool, ds.gold_dev, n_samples)):
        hits = {k: h.assign(span=[c.match_span(t) for t in h["text"]]) for k, h in hits.items()}
        out.append({
            "id": s.id, "tag": s.tag, "kind": s.kind, "status": s.status,
            "dev_hits": int(st["dev_correct"] + st["dev_incorrect"]), "dev_correct": int(st["dev_correct"]),
            "dev_precision": float(st["dev_precision"]), "dev_recall": float(st["dev_recall"]),
            "pool_hits": int(st["hits"]), "pool_coverage": float(st["coverage"]),
            "correct_examples": hits["correct"].to_dict("records"),
            "incorrect_examples": hits["incorrect"].to_dict("records"),
            "unlabeled_examples": hits["unlabeled"].to_dict("records"),
        })
    return out


MARK = ("[[", "]]")  # around the matched words in a shown hit


def around_match(text: str, span: tuple[int, int] | None, limit: int = 140) -> str:
    """A hit on one line (turns joined by `` | ``) cut to about ``limit`` characters around the span the LF
    matched, which is marked (:data:`MARK`); without a span (an embedding or metadata LF), its beginning."""
    from data.schema import one_line

    if span is None:
        return one_line(text, limit)
    start, end = span
    marked = one_line(text[:start] + "\x00" + text[start:end] + "\x01" + text[end:], 10 ** 9)
    i = marked.index("\x00")
    lo = max(0, min(i - limit // 3, len(marked) - limit))
    window = marked[lo:lo + limit]
    window = ("..." if lo > 0 else "") + window + ("..." if lo + limit < len(marked) else "")
    if "\x01" not in window:  # a match longer than the window: close the mark at the cut
        window = window.removesuffix("...") + "\x01..."
    return window.replace("\x00", MARK[0]).replace("\x01", MARK[1])


def format_measurement(m: dict) -> str:
    def clip(r: dict) -> str:
        return around_match(r["text"], r.get("span"))

    lines = [f"{m['id']}  tag={m['tag']} kind={m['kind']} status={m['status']}",
             f"  gold_dev: {m['dev_hits']} hits, {m['dev_correct']} correct, precision {m['dev_precision']:.2f}, "
             f"recall {m['dev_recall']:.2f}; pool: {m['pool_hits']} hits ({m['pool_coverage']:.1%})"]
    for title, key, fmt in (("correct on gold_dev", "correct_examples", lambda r: f"[{r['ticket_id']}] {clip(r)}"),
                            ("incorrect on gold_dev", "incorrect_examples",
                             lambda r: f"[{r['ticket_id']}] true={r['tag']}: {clip(r)}"),
                            ("unlabeled pool hits", "unlabeled_examples", lambda r: f"[{r['ticket_id']}] {clip(r)}")):
        lines.append(f"  {title}:")
        lines += [f"    {fmt(r)}" for r in m[key]] or ["    (none)"]
    return "\n".join(lines)


def lf_table(specs: list[LFSpec]) -> pd.DataFrame:
    rows = []
    for s in specs:
        g = s.provenance.get("gate", {})
        rows.append({"id": s.id, "tag": s.tag, "kind": s.kind, "status": s.status, "author": s.author,
                     "round": s.provenance.get("round"), "dev_precision": g.get("dev_precision", np.nan),
                     "dev_hits": g.get("dev_hits", np.nan), "coverage": g.get("pool_coverage", np.nan)})
    return pd.DataFrame(rows, columns=["id", "tag", "kind", "status", "author", "round", "dev_precision", "dev_hits",
                                       "coverage"])


def diff_runs(run_a, run_b) -> dict:
    """LFs added, removed (retired or rejected since), changed (same id, new spec or status) between two
    runs, and the deltas of what they were chosen on: the chosen recipe's gold_dev CV macro-F1, the
    label model's gold_dev numbers, and per-tag F1 of the out-of-fold gold_dev predictions
    (``per_tag_cv.csv``). gold_test scores are not compared: they are for final scoring only."""
    import json
    from pathlib import Path

    import yaml

    def lfs(run):
        return {x["id"]: x for x in yaml.safe_load((Path(run) / "lfs.yaml").read_text())["lfs"]}

    def metrics(run):
        return json.loads((Path(run) / "metrics.json").read_text())

    def cv(m):
        sel = m.get("selection") or {}
        rows = {r["recipe"]: r["cv_macro_f1_mean"] for r in sel.get("table", [])}
        return rows.get((sel.get("chosen") or {}).get("name"), float("nan"))

    def per_tag(run):
        p = Path(run) / "per_tag_cv.csv"
        return dict(zip(*pd.read_csv(p)[["tag", "f1"]].T.values)) if p.exists() else {}

    a, b = lfs(run_a), lfs(run_b)
    keys = ("tag", "kind", "params", "status")
    changed = [i for i in a.keys() & b.keys() if {k: a[i][k] for k in keys} != {k: b[i][k] for k in keys}]
    ma, mb = metrics(run_a), metrics(run_b)
    deltas = {"selection.chosen_cv_macro_f1": (cv(ma), cv(mb), cv(mb) - cv(ma))}
    for k in ("gold_dev_accuracy_label_model", "gold_dev_accuracy_majority_vote", "coverage", "n_lfs"):
        deltas[f"label_model.{k}"] = (ma["label_model"][k], mb["label_model"][k], mb["label_model"][k] - ma["label_model"][k])
    ta, tb = per_tag(run_a), per_tag(run_b)
    tags = [t for t in tb if t in ta and abs(tb[t] - ta[t]) > 1e-9]
    per_tag_f1 = sorted(((t, ta[t], tb[t], tb[t] - ta[t]) for t in tags), key=lambda x: x[3])
    return {"added": sorted(b.keys() - a.keys()), "removed": sorted(a.keys() - b.keys()), "changed": sorted(changed),
            "metrics": deltas, "per_tag_cv_f1": per_tag_f1}
