"""The run's tickets: tag list, pool and gold_dev at ingest; gold_test only for final scoring.

``load_dataset`` never opens gold_test: :func:`load_gold_test` reads it, and only the scoring step
(``tagger/scoring.py``) calls it, so no LF, threshold, label model, recipe or model sees it.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.io import load_tags, load_tickets, quarantine_summary
from data.schema import IngestLimits
from labeling_functions.apply import Reference
from labeling_functions.builders import neighbor_lfs, operator_lfs
from labeling_functions.spec import LFSpec, check_unique, load_specs
from labeling_functions.weak import WeakLabeler
from tagger.config import RunConfig

log = logging.getLogger("tagger")


@dataclass
class Dataset:
    tags: list[str]
    tag_table: pd.DataFrame
    pool: pd.DataFrame
    gold_dev: pd.DataFrame
    quarantine: pd.DataFrame
    ingest_report: dict = field(default_factory=dict)


def ingest_limits(cfg: RunConfig) -> IngestLimits:
    i = cfg.ingest
    return IngestLimits(max_chars=i.max_chars, max_turns=i.max_turns, mask_pii=i.mask_pii, speakers=tuple(i.speakers))


def ensure_demo_data(cfg: RunConfig) -> None:
    g = cfg.dataset.generate_demo
    if g is None:
        return
    paths = [cfg.dataset.gold_dev, cfg.dataset.gold_test, cfg.dataset.tags]
    if all(Path(p).exists() for p in paths) and (Path(g.out_dir) / "support.db").exists():
        return
    from data.demo import generate_demo

    log.info("generating demo support database in %s", g.out_dir)
    generate_demo(g.out_dir, n_pool=g.n_pool, n_test_per_tag=g.n_test_per_tag, n_dev_per_tag=g.n_dev_per_tag,
                  seed=g.seed, lang=g.lang)


def _known_tags_only(g: pd.DataFrame, q: pd.DataFrame, path, known: set) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gold rows whose tag is not in the tag list move to the quarantine as ``unknown_tag``."""
    bad = ~g["tag"].isin(known)
    if bad.any():
        q = pd.concat([q, pd.DataFrame({
            "source": str(path), "row": -1, "ticket_id": g.loc[bad, "ticket_id"], "reason": "unknown_tag",
            "detail": [f"tag {t!r} is not in the tag list" for t in g.loc[bad, "tag"]], "raw": ""})],
            ignore_index=True)
        g = g[~bad].reset_index(drop=True)
    return g, q


def load_dataset(cfg: RunConfig) -> Dataset:
    """Load pool, gold_dev and tags; quarantine bad rows; check tags against the tag list. gold_test
    is not opened (see :func:`load_gold_test`)."""
    ensure_demo_data(cfg)
    d, limits = cfg.dataset, ingest_limits(cfg)
    tag_table = load_tags(d.tags)
    tags = tag_table["tag"].tolist()
    known = set(tags)
    src = d.pool.to_source() if not isinstance(d.pool, str) else d.pool
    pool, q_pool = load_tickets(src, limits)
    report: dict = {}
    unknown_op = pool["operator_tag"].notna() & ~pool["operator_tag"].isin(known)
    report["operator_tag_unknown"] = int(unknown_op.sum())
    if unknown_op.any():
        log.warning("%d pool tickets have an operator tag that is not in the tag list; it is ignored "
                    "(the raw value is kept in metadata.operator_tag_raw)", int(unknown_op.sum()))
        pool.loc[unknown_op, "metadata"] = [
            json.dumps({**json.loads(m), "operator_tag_raw": o}) for m, o in
            zip(pool.loc[unknown_op, "metadata"], pool.loc[unknown_op, "operator_tag"])]
        pool.loc[unknown_op, "operator_tag"] = None
    if not d.use_operator_tags:
        pool["operator_tag"] = None
    gold_dev, q_dev = load_tickets(d.gold_dev, limits, label_column="tag")
    gold_dev, q_dev = _known_tags_only(gold_dev, q_dev, d.gold_dev, known)
    gold_dev = attach_pool_fields(gold_dev, pool)
    frames = [f for f in (q_pool, q_dev) if len(f)]
    quarantine = pd.concat(frames, ignore_index=True) if frames else q_pool
    report.update({"pool_rows": int(len(pool)), "gold_dev_rows": int(len(gold_dev)), "quarantined": int(len(quarantine)),
                   "quarantine_reasons": quarantine_summary(quarantine)})
    return Dataset(tags, tag_table, pool, gold_dev, quarantine, report)


def load_gold_test(cfg: RunConfig, ds: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """gold_test and its quarantined rows. Called by the final scoring step only; refuses a test set
    that shares tickets with the pool or gold_dev."""
    path = cfg.dataset.gold_test
    test, q = load_tickets(path, ingest_limits(cfg), label_column="tag")
    test, q = _known_tags_only(test, q, path, set(ds.tags))
    overlap = set(test["ticket_id"]) & (set(ds.pool["ticket_id"]) | set(ds.gold_dev["ticket_id"]))
    if overlap:
        raise ValueError(f"{len(overlap)} gold_test tickets also appear in the pool or gold_dev "
                         f"(e.g. {sorted(overlap)[:3]}); the test set must be held out")
    return test, q


def attach_pool_fields(gold: pd.DataFrame, pool: pd.DataFrame) -> pd.DataFrame:
    """Gold rows whose ticket is in the pool take the pool's operator tag and metadata (the gold file
    only adds the expert tag), so LFs see the same ticket on dev as in the pool."""
    fields = pool.set_index("ticket_id")[["operator_tag", "metadata"]]
    g = gold.copy()
    in_pool = g["ticket_id"].isin(fields.index)
    for c in ("operator_tag", "metadata"):
        g[c] = g[c].astype(object)
        g.loc[in_pool, c] = fields.loc[g.loc[in_pool, "ticket_id"], c].to_numpy()
    return g


def fixed_lfs(cfg: RunConfig, ds: Dataset) -> list[LFSpec]:
    """LFs that do not depend on gold_dev: operator-tag, neighbor and the spec files' LFs (an entry
    that does not validate, such as a regex RE2 cannot run, is left out with a warning and listed in
    the ingest report as ``lfs_left_out``)."""
    specs: list[LFSpec] = []
    if cfg.lfs.operator_tags and cfg.dataset.use_operator_tags:
        specs += operator_lfs(ds.tags)
    if cfg.lfs.neighbor.enabled and cfg.dataset.use_operator_tags:
        specs += neighbor_lfs(ds.tags, cfg.lfs.neighbor.k, cfg.lfs.neighbor.min_share)
    bad: list[str] = []
    for d in cfg.lfs.spec_dirs:  # an LF that no longer validates is left out, named, and counted
        specs += [s for s in load_specs(d, errors=bad) if s.status in cfg.lfs.statuses]
    for msg in bad:
        log.warning("LF left out: %s", msg)
    if bad:
        ds.ingest_report["lfs_left_out"] = bad
    check_unique(specs)
    return specs


def weak_labeler(cfg: RunConfig, ds: Dataset, pool_emb: np.ndarray, dev_emb: np.ndarray, encoder) -> WeakLabeler:
    """The run's :class:`WeakLabeler`: the fixed LFs of ``cfg.lfs`` and its exemplar and label-model settings."""
    return WeakLabeler(ds.tags, ds.pool, ds.gold_dev, pool_emb, dev_emb, encoder, fixed_lfs(cfg, ds),
                       exemplar=cfg.lfs.exemplar, label_model=cfg.label_model,
                       reference=pool_reference(cfg, ds, pool_emb))


def pool_reference(cfg: RunConfig, ds: Dataset, pool_emb: np.ndarray) -> Reference:
    """What the run's neighbour LFs look up: the pool, or a seeded sample of ``lfs.neighbor.max_reference``."""
    return Reference(ds.pool, pool_emb, cfg.lfs.neighbor.max_reference, cfg.seed)
