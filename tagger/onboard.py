"""New tags' cold start (``tagger tags add --bootstrap``, ``tagger tags bootstrap``): their first LFs from
their expert examples.

- **Exemplar LF.** Every run builds ``ex:TAG`` itself from the tag's gold_dev examples (the threshold
  chosen leave-one-out), from the training folds only. It is reported here, with the threshold the
  examples give, but never stored: a stored copy would carry every example and score its own examples
  in recipe selection.
- **Proposed rules.** One refinement loop whose proposer sees these tags alone (``refine.focus_tags``):
  the offline miner, the LLM, or in batch mode a cold-start request file for them to send. Rules
  that pass the gate go to the LF store as ``proposed`` (review mode) or ``active`` (auto mode), with
  the gold_dev tickets their gate saw recorded in the store, so later runs never select on them.
- **Retrain** (``--retrain``): ``tagger run`` on the config with the store's active LFs.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from labeling_functions.builders import exemplar_lfs
from labeling_functions.spec import dump_specs
from labeling_functions.store import LFStore, read_seen
from tagger.config import RunConfig
from tagger.dataset import load_dataset

log = logging.getLogger("tagger.onboard")


def with_store(cfg: RunConfig, store: str | Path) -> RunConfig:
    """A copy of ``cfg`` whose LFs include the store's (``lfs.spec_dirs``)."""
    cfg = cfg.model_copy(deep=True)
    cfg.lfs.spec_dirs = list(dict.fromkeys([*cfg.lfs.spec_dirs, str(store)]))
    return cfg


def bootstrap_tags(cfg: RunConfig, tags: list[str], store: str | Path, mode: str = "review",
                   run_dir: Path | None = None, progress: bool = True) -> dict:
    """LFs for the new ``tags`` (already in ``cfg``'s tag list, their examples in gold_dev): each one's
    exemplar choice, and the gated rules of one refinement loop whose proposer sees these tags alone,
    added to ``store``. Several tags that arrive together share the loop. Returns a summary."""
    from tagger.refine import make_proposer, prepare, refine

    if mode not in ("review", "auto"):
        raise ValueError(f"mode must be review or auto, not {mode!r}")
    tags = list(dict.fromkeys(tags))
    if not tags:
        raise ValueError("no tag to bootstrap")
    t0 = time.perf_counter()
    store = Path(store)
    cfg = with_store(cfg, store)
    cfg.refine = cfg.refine.model_copy(update={"mode": mode, "focus_tags": tags})
    ds = load_dataset(cfg)
    unknown = [t for t in tags if t not in ds.tags]
    if unknown:
        raise ValueError(f"tag {unknown[0]!r} is not in {cfg.dataset.tags}; add it first (tagger tags add)")
    store.mkdir(parents=True, exist_ok=True)  # a new store: empty until these tags' LFs arrive
    run_dir = run_dir or Path(cfg.output_dir) / f"{cfg.name}-onboard-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    _, pool_emb, dev_emb, labeler = prepare(cfg, ds, run_dir, progress)

    e = cfg.lfs.exemplar
    _, choice = exemplar_lfs(ds.gold_dev, dev_emb, tags, e.thresholds, e.min_precision, e.min_support)
    exemplar = {r["tag"]: r for r in json.loads(choice.to_json(orient="records"))}

    proposer = make_proposer(cfg)
    res = refine(cfg, ds, labeler, pool_emb, dev_emb, run_dir / "refine", proposer=proposer)
    new = [s for s in res.all_lfs if s.tag in tags and s.status in ("proposed", "active")]
    added = LFStore(store).add(new, seen=read_seen(run_dir / "refine"))
    dump_specs(new, run_dir / "onboard_lfs.yaml")
    fired = (labeler.apply(new)[0] != -1) if new else np.zeros((len(ds.pool), 0), dtype=bool)
    per_tag = {}
    for t in tags:
        cols = [j for j, s in enumerate(new) if s.tag == t]
        per_tag[t] = {"gold_dev_examples": int((ds.gold_dev["tag"] == t).sum()), "exemplar": exemplar[t],
                      "lfs": [{"id": new[j].id, "kind": new[j].kind, "status": new[j].status} for j in cols],
                      "pool_hits_of_new_lfs": int(fired[:, cols].any(axis=1).sum()) if cols else 0}
        log.info("tag %s: %d LFs from the %s proposer; exemplar: %s", t, len(cols), proposer.name,
                 exemplar[t]["decision"])
    log.info("bootstrap of %d tags: %s; %d LFs new in %s", len(tags), res.stop_reason, len(added), store)
    return {"tags": per_tag, "proposer": f"{proposer.name}:{proposer.model}", "rounds": len(res.rounds) - 1,
            "stop_reason": res.stop_reason, "added_to_store": added, "store": str(store), "run_dir": str(run_dir),
            "seconds": round(time.perf_counter() - t0, 1)}
