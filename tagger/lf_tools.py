"""Analyst tools on LFs: measure specs on a dataset with sample hits (``tagger lf test`` / ``show``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from labeling_functions import ABSTAIN
from labeling_functions.apply import Reference, apply_lfs, compile_lfs
from labeling_functions.spec import LFSpec
from tagger.config import RunConfig


def measure(cfg: RunConfig, specs: list[LFSpec], n_samples: int = 5) -> list[dict]:
    """Per spec: gold_dev hits / precision / recall, pool coverage, and sample hits (correct and
    incorrect on gold_dev, and on unlabeled pool tickets). gold_test is not read."""
    from tagger.pipeline import load_dataset

    ds = load_dataset(cfg)
    need_emb = any(s.kind in ("exemplar", "neighbor") for s in specs)
    enc = pool_emb = dev_emb = ref = None
    if need_emb:
        from models.encoder import Encoder

        enc = Encoder(max_length=cfg.end_model.max_length, cache_dir=cfg.cache_dir)
        pool_emb, dev_emb = enc(ds.pool["text"].tolist()), enc(ds.gold_dev["text"].tolist())
        ref = Reference(ds.pool, pool_emb)
    comp = compile_lfs(specs, ds.tags, embed=enc, reference=ref)
    Lp = apply_lfs(ds.pool, comp, pool_emb)
    Ld = apply_lfs(ds.gold_dev, comp, dev_emb)
    dev_ids = set(ds.gold_dev["ticket_id"])
    unlabeled = ~ds.pool["ticket_id"].isin(dev_ids).to_numpy()
    out = []
    for j, s in enumerate(specs):
        fired = Ld[:, j] != ABSTAIN
        right = fired & (ds.gold_dev["tag"].to_numpy() == s.tag)
        wrong = fired & ~right
        pos = int((ds.gold_dev["tag"] == s.tag).sum())
        ph = Lp[:, j] != ABSTAIN
        out.append({
            "id": s.id, "tag": s.tag, "kind": s.kind, "status": s.status,
            "dev_hits": int(fired.sum()), "dev_correct": int(right.sum()),
            "dev_precision": float(right.sum() / fired.sum()) if fired.any() else float("nan"),
            "dev_recall": float(right.sum() / pos) if pos else float("nan"),
            "pool_hits": int(ph.sum()), "pool_coverage": float(ph.mean()) if len(ph) else 0.0,
            "correct_examples": ds.gold_dev.loc[right, ["ticket_id", "text"]].head(n_samples).to_dict("records"),
            "incorrect_examples": ds.gold_dev.loc[wrong, ["ticket_id", "tag", "text"]].head(n_samples).to_dict("records"),
            "unlabeled_examples": ds.pool.loc[ph & unlabeled, ["ticket_id", "text"]].head(n_samples).to_dict("records"),
        })
    return out


def format_measurement(m: dict) -> str:
    from data.schema import one_line

    def clip(t: str) -> str:
        return one_line(t, 140)

    lines = [f"{m['id']}  tag={m['tag']} kind={m['kind']} status={m['status']}",
             f"  gold_dev: {m['dev_hits']} hits, {m['dev_correct']} correct, precision {m['dev_precision']:.2f}, "
             f"recall {m['dev_recall']:.2f}; pool: {m['pool_hits']} hits ({m['pool_coverage']:.1%})"]
    for title, key, fmt in (("correct on gold_dev", "correct_examples", lambda r: f"[{r['ticket_id']}] {clip(r['text'])}"),
                            ("incorrect on gold_dev", "incorrect_examples",
                             lambda r: f"[{r['ticket_id']}] true={r['tag']}: {clip(r['text'])}"),
                            ("unlabeled pool hits", "unlabeled_examples", lambda r: f"[{r['ticket_id']}] {clip(r['text'])}")):
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
    runs, and the gold_test / label-model metric deltas."""
    import json
    from pathlib import Path

    import yaml

    def lfs(run):
        return {x["id"]: x for x in yaml.safe_load((Path(run) / "lfs.yaml").read_text())["lfs"]}

    def metrics(run):
        return json.loads((Path(run) / "metrics.json").read_text())

    a, b = lfs(run_a), lfs(run_b)
    changed = [i for i in a.keys() & b.keys()
               if {k: a[i][k] for k in ("tag", "kind", "params", "status")} != {k: b[i][k] for k in ("tag", "kind", "params", "status")}]
    ma, mb = metrics(run_a), metrics(run_b)
    deltas = {}
    for name in ma["test"].keys() & mb["test"].keys():
        for k in ("macro_f1", "micro_f1", "accuracy"):
            deltas[f"{name}.{k}"] = (ma["test"][name][k], mb["test"][name][k], mb["test"][name][k] - ma["test"][name][k])
    for k in ("gold_dev_accuracy_label_model", "gold_dev_accuracy_majority_vote", "coverage", "n_lfs"):
        deltas[f"label_model.{k}"] = (ma["label_model"][k], mb["label_model"][k], mb["label_model"][k] - ma["label_model"][k])
    per_tag = []
    for tag, v in mb["test"]["model"]["per_tag"].items():
        before = ma["test"]["model"]["per_tag"].get(tag, {}).get("f1")
        if before is not None and abs(v["f1"] - before) > 1e-9:
            per_tag.append((tag, before, v["f1"], v["f1"] - before))
    per_tag.sort(key=lambda x: x[3])
    return {"added": sorted(b.keys() - a.keys()), "removed": sorted(a.keys() - b.keys()), "changed": sorted(changed),
            "metrics": deltas, "per_tag_f1": per_tag}
