"""A new tag's cold start (``tagger tags add --bootstrap``): its first LFs from its expert examples.

- **Exemplar LF.** Every run builds ``ex:TAG`` itself from the tag's gold_dev examples (the threshold
  chosen leave-one-out), from the training folds only. It is reported here, with the threshold the
  examples give, but never stored: a stored copy would carry every example and score its own examples
  in recipe selection.
- **Proposed rules.** One refinement loop whose proposer sees this tag alone (``refine.focus_tags``):
  the offline miner, the LLM, or in batch mode a cold-start request file for this tag to send. Rules
  that pass the gate go to the LF store as ``proposed`` (review mode) or ``active`` (auto mode), with
  the gold_dev tickets their gate saw recorded in the store, so later runs never select on them.
- **Retrain** (``--retrain``): ``tagger run`` on the config with the store's active LFs.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from labeling_functions.builders import exemplar_lfs
from labeling_functions.spec import dump_specs
from labeling_functions.store import LFStore, read_seen
from tagger.config import RunConfig
from tagger.dataset import load_dataset, weak_labeler

log = logging.getLogger("tagger.onboard")


def bootstrap_tag(cfg: RunConfig, tag: str, store: str | Path, mode: str = "review", run_dir: Path | None = None,
                  progress: bool = True) -> dict:
    """LFs for the new ``tag`` (already in ``cfg``'s tag list, its examples in gold_dev): the exemplar
    choice and the gated rules of a refinement loop focused on it, added to ``store``. Returns a summary."""
    from tagger.pipeline import make_encoder
    from tagger.refine import make_proposer, refine

    if mode not in ("review", "auto"):
        raise ValueError(f"mode must be review or auto, not {mode!r}")
    t0 = time.perf_counter()
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)  # a new store: empty until this tag's LFs arrive
    cfg = cfg.model_copy(deep=True)
    cfg.lfs.spec_dirs = list(dict.fromkeys([*cfg.lfs.spec_dirs, str(store)]))
    cfg.refine = cfg.refine.model_copy(update={"mode": mode, "focus_tags": [tag]})
    ds = load_dataset(cfg)
    if tag not in ds.tags:
        raise ValueError(f"tag {tag!r} is not in {cfg.dataset.tags}; add it first (tagger tags add)")
    n_ex = int((ds.gold_dev["tag"] == tag).sum())
    run_dir = run_dir or Path(cfg.output_dir) / f"{cfg.name}-onboard-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    encoder = make_encoder(cfg, progress)
    pool_emb, dev_emb = encoder(ds.pool["text"].tolist()), encoder(ds.gold_dev["text"].tolist())

    e = cfg.lfs.exemplar
    _, choice = exemplar_lfs(ds.gold_dev, dev_emb, [tag], e.thresholds, e.min_precision, e.min_support)
    exemplar = json.loads(choice.to_json(orient="records"))[0]

    labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, encoder)
    proposer = make_proposer(cfg)
    res = refine(cfg, ds, labeler, pool_emb, dev_emb, run_dir / "refine", proposer=proposer)
    new = [s for s in res.all_lfs if s.tag == tag and s.status in ("proposed", "active")]
    added = LFStore(store).add(new, seen=read_seen(run_dir / "refine"))
    dump_specs(new, run_dir / "onboard_lfs.yaml")
    pool_hits = int((labeler.apply(new)[0] != -1).any(axis=1).sum()) if new else 0
    log.info("tag %s: %d LFs from the %s proposer (%s), %d new in %s; exemplar: %s", tag, len(new), proposer.name,
             res.stop_reason, len(added), store, exemplar["decision"])
    return {"tag": tag, "gold_dev_examples": n_ex, "exemplar": exemplar, "proposer": f"{proposer.name}:{proposer.model}",
            "rounds": len(res.rounds) - 1, "stop_reason": res.stop_reason,
            "lfs": [{"id": s.id, "kind": s.kind, "status": s.status} for s in new], "added_to_store": added,
            "store": str(store), "pool_hits_of_new_lfs": pool_hits, "run_dir": str(run_dir),
            "seconds": round(time.perf_counter() - t0, 1)}
