"""Wiring of the LF refinement loop into a run: proposer choice, per-round model, outputs; and
``tagger refine`` (the loop alone)."""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

import numpy as np

from data.atomic import atomic_write_text
from data.sampling import sample_rows
from labeling_functions.label_model import covered
from labeling_functions.spec import dump_specs
from labeling_functions.weak import WeakLabeler
from llm_rulegen.loop import LoopResult, run_loop
from llm_rulegen.miner import MinerProposer
from models.end_model import head_proba, train_head
from tagger.config import RunConfig
from tagger.dataset import Dataset, load_dataset, weak_labeler

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
                         max_coverage=min(g.max_coverage, r.miner_max_coverage))


def refine(cfg: RunConfig, ds: Dataset, labeler: WeakLabeler, pool_emb: np.ndarray, dev_emb: np.ndarray,
           out_dir: Path, proposer=None) -> LoopResult:
    r = cfg.refine
    head_kw = {"l2": cfg.end_model.head.l2, "max_iter": cfg.end_model.head.max_iter, "seed": cfg.seed}
    dev_ids = ds.gold_dev["ticket_id"]

    rows = sample_rows(len(ds.pool), cfg.end_model.aux_sample, cfg.seed)
    if len(rows) < len(ds.pool):
        # the loop works on at most end_model.aux_sample pool tickets: its LFs' votes and label model, the
        # per-round model, the miner and the gate's pool coverage; the LFs it admits then label the whole pool
        log.info("refinement loop on a sample of %d of the %d pool tickets (end_model.aux_sample)",
                 len(rows), len(ds.pool))
        labeler, pool_emb = labeler.subset(rows), pool_emb[rows]
        ds = dataclasses.replace(ds, pool=labeler.pool)

    def train_eval(wl, gate_mask):
        # weak labels only: no gold label reaches the per-round model; selection-half tickets are left out
        keep = covered(wl.L) & ~ds.pool["ticket_id"].isin(dev_ids[~gate_mask]).to_numpy()
        W, b = train_head(pool_emb[keep], wl.proba[keep].astype(np.float32), **head_kw)
        return head_proba(dev_emb, W, b).argmax(1), None

    gate_cfg = r.gate.model_copy(update={"accept_status": "active" if r.mode == "auto" else "proposed"})
    proposer = proposer or make_proposer(cfg)
    log.info("refinement loop with the %s proposer (%s)", proposer.name, proposer.model)
    return run_loop(ds, labeler, pool_emb, dev_emb, proposer, gate_cfg, r, train_eval, out_dir=out_dir, seed=cfg.seed,
                    language=cfg.dataset.language)


def prepare(cfg: RunConfig, ds: Dataset, run_dir: Path, progress: bool = True):
    """What a loop outside a run needs: ``ds``'s quarantine written to ``run_dir``, the encoder, the pool
    and gold_dev embeddings, and the weak labeler. Returns ``(encoder, pool_emb, dev_emb, labeler)``."""
    from data.io import write_table
    from tagger.pipeline import make_encoder

    write_table(ds.quarantine, run_dir / "quarantine.csv")
    encoder = make_encoder(cfg, progress)
    pool_emb, dev_emb = encoder(ds.pool["text"].tolist()), encoder(ds.gold_dev["text"].tolist())
    return encoder, pool_emb, dev_emb, weak_labeler(cfg, ds, pool_emb, dev_emb, encoder)


def run_refine(cfg: RunConfig, run_dir: Path | None = None, progress: bool = True) -> Path:
    """Only the refinement loop (``tagger refine``): writes ``RUN_DIR/refine/`` (rounds.json,
    generated_lfs.yaml, rejected.csv, best_lfs.yaml) and ``RUN_DIR/refine_summary.md``."""
    from tagger.outputs import rounds_table

    run_dir = run_dir or Path(cfg.output_dir) / f"{cfg.name}-refine-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(cfg)
    _, pool_emb, dev_emb, labeler = prepare(cfg, ds, run_dir, progress)
    res = refine(cfg, ds, labeler, pool_emb, dev_emb, run_dir / "refine")
    dump_specs(res.best_lfs, run_dir / "refine" / "best_lfs.yaml")
    atomic_write_text(run_dir / "refine_summary.md", rounds_table(res.rounds, res.best_round, res.stop_reason) + "\n")
    return run_dir
