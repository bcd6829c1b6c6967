"""Wiring of the LF refinement loop into a run: proposer choice, per-round model, outputs."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from labeling_functions.label_model import covered
from llm_rulegen.gate import GateConfig
from llm_rulegen.loop import LoopConfig, LoopResult, run_loop
from llm_rulegen.miner import MinerProposer
from models.end_model import head_proba, train_head
from tagger.config import RunConfig

log = logging.getLogger("tagger.refine")


def make_proposer(cfg: RunConfig):
    r = cfg.refine
    if r.backend == "openai" and r.openai.batch_dir:
        from llm_rulegen.batch import BatchProposer

        return BatchProposer(r.openai, r.openai.batch_dir, config_name=cfg.name)
    if r.backend == "openai":
        if not os.environ.get("OPENAI_API_KEY"):
            log.warning("refine.backend is 'openai' but OPENAI_API_KEY is not set: using the offline miner")
        else:
            from llm_rulegen.openai_backend import OpenAIProposer

            return OpenAIProposer(r.openai, cache_dir=Path(cfg.cache_dir) / "llm")
    g = r.gate
    return MinerProposer(min_precision=g.min_precision, min_support=g.min_support,
                         max_coverage=min(g.max_coverage, 0.2))


def refine(cfg: RunConfig, ds, labeler, pool_emb: np.ndarray, dev_emb: np.ndarray, out_dir: Path) -> LoopResult:
    r = cfg.refine
    head_kw = {"l2": cfg.end_model.head.l2, "max_iter": cfg.end_model.head.max_iter, "seed": cfg.seed}
    dev_ids = ds.gold_dev["ticket_id"]

    def train_eval(wl, gate_mask):
        # weak labels only: no gold label reaches the per-round model; selection-half tickets are left out
        keep = covered(wl.L) & ~ds.pool["ticket_id"].isin(dev_ids[~gate_mask]).to_numpy()
        W, b = train_head(pool_emb[keep], wl.proba[keep].astype(np.float32), **head_kw)
        return head_proba(dev_emb, W, b).argmax(1), None

    gate_cfg = GateConfig(min_precision=r.gate.min_precision, min_support=r.gate.min_support,
                          max_coverage=r.gate.max_coverage, max_jaccard=r.gate.max_jaccard,
                          accept_status="active" if r.mode == "auto" else "proposed")
    loop_cfg = LoopConfig(max_rounds=r.max_rounds, patience=r.patience, max_seconds=r.max_seconds,
                          max_tokens=r.max_tokens, max_cost_usd=r.max_cost_usd, max_new_per_tag=r.max_new_per_tag,
                          seed=cfg.seed)
    proposer = make_proposer(cfg)
    log.info("refinement loop with the %s proposer (%s)", proposer.name, proposer.model)
    return run_loop(ds, labeler, pool_emb, dev_emb, proposer, gate_cfg, loop_cfg, train_eval, out_dir=out_dir)
