"""The closed loop: model -> errors -> revised rules -> new labels -> model, round after round.

Guard against overfitting gold_dev: gold_dev is split (stratified by tag) into a *gating* half and
a *selection* half. Proposers see only gating-half tickets (masked), the gate measures precision
only there, and the per-round model trains on weak labels alone (no gold labels), so its errors on
the gating half are honest. Rounds are scored and the best round is chosen on the selection half,
which no proposer and no gate has seen. The loop stops when the selection score has not improved
for ``patience`` rounds or a budget (rounds, seconds, tokens, money) runs out.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from data.atomic import atomic_write_text
from labeling_functions.label_model import covered
from labeling_functions.spec import LFSpec, dump_specs
from labeling_functions.store import write_seen
from labeling_functions.weak import WeakLabeler
from llm_rulegen.base import Proposal, Proposer, RoundContext, TagErrors
from llm_rulegen.batch import AwaitingReplies, BatchError
from llm_rulegen.gate import GateConfig, gate_lfs, spec_from_proposal
from llm_rulegen.settings import LoopConfig

log = logging.getLogger("tagger.refine")


@dataclass
class LoopResult:
    best_round: int
    best_lfs: list[LFSpec]
    all_lfs: list[LFSpec]
    rounds: list[dict]
    rejected: list[dict]
    stop_reason: str
    split: dict = field(default_factory=dict)
    gate_mask: np.ndarray | None = None  # gold_dev rows a proposer or the gate has seen (the gating half)


def split_dev(tags: np.ndarray, seed: int) -> np.ndarray:
    """Boolean mask of the gating half (stratified by tag); the rest is the selection half."""
    rng = np.random.default_rng(seed)
    gate = np.zeros(len(tags), dtype=bool)
    for t in np.unique(tags):
        idx = np.flatnonzero(tags == t)
        rng.shuffle(idx)
        gate[idx[: (len(idx) + 1) // 2]] = True
    return gate


def run_loop(ds, labeler: WeakLabeler, pool_emb: np.ndarray, dev_emb: np.ndarray, proposer: Proposer, gate_cfg: GateConfig,
             loop_cfg: LoopConfig, train_eval: Callable, initial: list[LFSpec] = (),
             out_dir: Path | None = None, seed: int = 0, language: str = "English") -> LoopResult:
    """``train_eval(weak_labels, gate_mask)`` -> (pred on dev, proba on pool) from weak labels only; ``seed``
    draws the gating / selection split of gold_dev."""
    t0 = time.perf_counter()
    tags = ds.tags
    index = {t: i for i, t in enumerate(tags)}
    y = ds.gold_dev["tag"].map(index).to_numpy()
    gate_mask = split_dev(ds.gold_dev["tag"].to_numpy(), seed)
    sel_mask = ~gate_mask
    score_mask = sel_mask
    if not sel_mask.any():  # one gold_dev ticket per tag: all of them gate, none is left to select with
        score_mask = gate_mask
        log.warning("gold_dev has no ticket left for the selection half (one per tag); rounds are compared on "
                    "the gating half, which is optimistic")
    dev_gate = ds.gold_dev[gate_mask].reset_index(drop=True)
    descriptions = dict(zip(ds.tag_table["tag"], ds.tag_table["description"]))
    generated: list[LFSpec] = list(initial)
    retired: list[LFSpec] = []
    rounds, rejected = [], []
    best = (-1.0, 0, list(generated))
    since_best, stop_reason = 0, "max_rounds"
    tokens, cost = 0, 0.0
    hits_cache: dict[str, np.ndarray] = {}
    for r in range(loop_cfg.max_rounds + 1):
        tr = time.perf_counter()
        wl = labeler(gate_mask, extra_specs=generated)
        pred_dev, _ = train_eval(wl, gate_mask)
        f_gate = float(f1_score(y[gate_mask], pred_dev[gate_mask], average="macro", labels=np.unique(y), zero_division=0))
        f_sel = float(f1_score(y[score_mask], pred_dev[score_mask], average="macro", labels=np.unique(y),
                               zero_division=0))
        rec = {"round": r, "active_lfs": len(wl.specs), "generated_lfs": len(generated),
               "dev_gate_macro_f1": round(f_gate, 4), "dev_select_macro_f1": round(f_sel, 4),
               "label_model": wl.method, "pool_coverage": round(float(covered(wl.L).mean()), 4)}
        if f_sel > best[0] + loop_cfg.min_improvement:
            best, since_best = (f_sel, r, list(generated)), 0
        else:
            since_best += 1
        rounds.append(rec)
        done = time.perf_counter() - t0
        log.info("round %d/%d: %s (%.0fs elapsed, at most about %.0fs left)", r, loop_cfg.max_rounds, json.dumps(rec),
                 done, done / (r + 1) * (loop_cfg.max_rounds - r))
        if r == loop_cfg.max_rounds:
            break
        if since_best > loop_cfg.patience:
            stop_reason = f"no improvement on the selection half for {loop_cfg.patience} rounds"
            break
        if time.perf_counter() - t0 > loop_cfg.max_seconds and not getattr(proposer, "replays", False):
            stop_reason = "time budget"
            break
        if tokens >= loop_cfg.max_tokens or cost >= loop_cfg.max_cost_usd:
            stop_reason = "token or cost budget"
            break
        ctx = build_context(r + 1, ds, dev_gate, gate_mask, pred_dev, wl, descriptions, loop_cfg)
        ctx.pool_emb, ctx.dev_emb, ctx.language = pool_emb, dev_emb[gate_mask], language
        ctx.rejected_ids = {x["id"] for x in rejected}
        ctx.rejected = list(rejected)
        ctx.budget = {"tokens": loop_cfg.max_tokens - tokens, "cost_usd": loop_cfg.max_cost_usd - cost}
        if not ctx.errors:
            stop_reason = "no errors left on the gating half"
            break
        try:
            prop: Proposal = proposer.propose(ctx)
        except AwaitingReplies as e:  # batch mode: this round's requests are written; resume on import
            stop_reason = f"awaiting replies for round {e.round} ({e.n} requests in {e.requests_file})"
            break
        except BatchError:
            raise
        except Exception as e:  # a proposer failure ends the round, never the run
            log.warning("proposer failed in round %d: %s", r + 1, e)
            prop = Proposal(items=[], events=[{"event": "proposer_error", "detail": str(e)[:300]}])
        usage = prop.usage or {}
        tokens += int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
        cost += float(usage.get("cost_usd", 0.0))
        prov = {"backend": proposer.name, "model": proposer.model, "round": r + 1}
        adds, retire_ids = [], set()
        for it in prop.items:
            if not isinstance(it, dict):
                rejected.append({"round": r + 1, "id": "?", "reason": "schema", "detail": "proposal is not an object"})
                continue
            action = it.get("action", "add")
            if action == "retire":
                retire_ids.add(str(it.get("id")))
            elif action in ("add", "edit"):
                d = spec_from_proposal(it, f"{proposer.name}:{proposer.model}", {**prov, "action": action})
                if action == "edit" and d.get("id"):
                    d["id"] = f"{d['id']}.r{r + 1}"
                    d["provenance"]["edits"] = it.get("id")
                adds.append(d)
            else:
                rejected.append({"round": r + 1, "id": str(it.get("id")), "reason": "bad_action", "detail": str(action)[:50]})
        edit_targets = {a["provenance"]["edits"] for a in adds if a["provenance"].get("edits")}
        existing = list(wl.specs[: len(wl.specs) - len(generated)]) + \
            [s for s in generated if s.id not in retire_ids | edit_targets]
        res = gate_lfs(adds, tags, ds.pool, dev_gate, existing, hits_cache, gate_cfg,
                       embed=labeler.encoder, pool_emb=pool_emb, dev_emb=dev_emb[gate_mask])
        # an edited LF is retired only when its replacement passed the gate
        retire_ids |= {s.provenance["edits"] for s in res.accepted if s.provenance.get("edits")}
        kept = [s for s in generated if s.id not in retire_ids]
        gone = [s.model_copy(update={"status": "retired", "provenance": {**s.provenance, "retired_round": r + 1}})
                for s in generated if s.id in retire_ids]
        by_id = {a.get("id"): a for a in adds}
        for rj in res.rejected:  # with the tag and definition, so the next prompt can show what failed
            a = by_id.get(rj["id"], {})
            rejected.append({"round": r + 1, **rj, "tag": a.get("tag"),
                             "definition": json.dumps({"kind": a.get("kind"), "params": a.get("params")})[:200]})
        generated = kept + res.accepted
        retired += gone
        rec.update({"added": [s.id for s in res.accepted], "retired": [s.id for s in gone],
                    "edited": [a["provenance"].get("edits") for a in adds if a["provenance"].get("edits")],
                    "rejected": len(res.rejected), "proposed": len(prop.items),
                    "usage": usage, "events": prop.events, "seconds": round(time.perf_counter() - tr, 2)})
        if out_dir:
            _write(out_dir, rounds, rejected, generated + retired)
    result = LoopResult(best[1], best[2], generated + retired, rounds, rejected, stop_reason,
                        {"gate_tickets": int(gate_mask.sum()), "select_tickets": int(sel_mask.sum()),
                         "rounds_scored_on": "selection half" if sel_mask.any() else "gating half (no selection half)"},
                        gate_mask)
    if out_dir:
        _write(out_dir, rounds, rejected, generated + retired)
        write_seen(out_dir, ds.gold_dev["ticket_id"][gate_mask])
    return result


def _write(out_dir: Path, rounds, rejected, lfs) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "rounds.json", json.dumps(rounds, indent=2, default=str))
    atomic_write_text(out_dir / "rejected.csv", pd.DataFrame(rejected).to_csv(index=False))
    dump_specs(lfs, out_dir / "generated_lfs.yaml")


def build_context(round_no, ds, dev_gate, gate_mask, pred_dev, wl, descriptions, cfg: LoopConfig) -> RoundContext:
    tags = ds.tags
    index = {t: i for i, t in enumerate(tags)}
    y = dev_gate["tag"].map(index).to_numpy()
    pred = pred_dev[gate_mask]
    fired = wl.L_dev[gate_mask] != -1
    names = np.array([s.id for s in wl.specs], dtype=object)
    f1 = f1_score(y, pred, labels=list(range(len(tags))), average=None, zero_division=0)
    conf = pd.crosstab(pd.Series(y, name="t"), pd.Series(pred, name="p"))
    errors: dict[str, TagErrors] = {}
    for t in np.argsort(f1, kind="stable"):
        tag = tags[t]
        fn = (y == t) & (pred != t)
        fp = (y != t) & (pred == t)
        if cfg.focus_tags is not None and tag not in cfg.focus_tags:
            continue
        if not fn.any() and not fp.any() and round_no > 1:
            continue
        confusable = []
        if t in conf.index:
            row = conf.loc[t].drop(labels=[t], errors="ignore")
            confusable = [tags[i] for i in row[row > 0].sort_values(ascending=False).index[:3]]
        errors[tag] = TagErrors(
            tag=tag, description=descriptions.get(tag, tag), dev_f1=float(f1[t]),
            false_negatives=pd.DataFrame({"ticket_id": dev_gate["ticket_id"][fn], "text": dev_gate["text"][fn],
                                          "predicted": [tags[i] for i in pred[fn]],
                                          "lfs_fired": [list(names[row]) for row in fired[fn]]}),
            false_positives=pd.DataFrame({"ticket_id": dev_gate["ticket_id"][fp], "text": dev_gate["text"][fp],
                                          "gold": dev_gate["tag"][fp],
                                          "lfs_fired": [list(names[row]) for row in fired[fp]]}),
            examples=dev_gate.loc[y == t, ["ticket_id", "text"]], confusable=confusable)
        if cfg.max_tags_per_round is not None and len(errors) >= cfg.max_tags_per_round:
            break
    pseudo = np.where(covered(wl.L), wl.proba.argmax(1), -1)
    return RoundContext(round=round_no, tags=list(tags), descriptions=descriptions,
                        pool=ds.pool[["ticket_id", "text"]], pool_pseudo=pseudo, dev_gate=dev_gate,
                        lfs=list(wl.specs), lf_stats=wl.summary, errors=errors, max_new_per_tag=cfg.max_new_per_tag)
