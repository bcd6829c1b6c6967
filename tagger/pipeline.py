"""The main job: ingest -> LFs -> label model -> end model -> evaluation, as plain functions.

``run_pipeline(cfg)`` writes a run directory:

- ``model/``                 the self-contained tagger (``tagger tag`` loads it)
- ``metrics.json``           gold_test scores of the model and the baselines, label-model stats, timings
- ``summary.md``             the readable tables
- ``per_tag.csv``, ``confusion.csv``, ``lf_summary.csv``, ``exemplar_thresholds.csv``
- ``lfs.yaml``               every LF spec that fed the label model
- ``quarantine.csv``         rejected input rows with reasons
- ``train_labels.parquet``   the probabilistic training labels

gold_test is read only for the final scoring step: no LF, threshold, label model or end model
sees it.
"""
from __future__ import annotations

import json
import logging
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.io import load_tags, load_tickets, quarantine_summary
from data.schema import IngestLimits
from labeling_functions.analysis import label_matrix_summary, lf_summary
from labeling_functions.apply import Reference, apply_lfs, compile_lfs
from labeling_functions.builders import exemplar_lfs, neighbor_lfs, operator_lfs
from labeling_functions.label_model import (SourceLabelModel, collapse_families, covered, estimate_prior,
                                            family_dev_precision, majority_vote_proba)
from labeling_functions.spec import LFSpec, check_unique, dump_specs, load_specs
from labeling_functions.votes import tag_votes, text_lfs
from models.encoder import Encoder
from models.end_model import (ModelInfo, finetune, finetuned_model, frozen_model, head_proba, lf_boosted,
                              train_head)
from models.evaluate import per_tag_frame, plot_results, score, summary_table
from tagger.config import RunConfig

log = logging.getLogger("tagger")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class Dataset:
    tags: list[str]
    tag_table: pd.DataFrame
    pool: pd.DataFrame
    gold_dev: pd.DataFrame
    gold_test: pd.DataFrame
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
                  seed=g.seed)


def load_dataset(cfg: RunConfig) -> Dataset:
    """Load pool, gold_dev, gold_test and tags; quarantine bad rows; check tags against the tag list."""
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
    frames = [q_pool]
    gold = {}
    for name, path in (("gold_dev", d.gold_dev), ("gold_test", d.gold_test)):
        g, q = load_tickets(path, limits, label_column="tag")
        bad = ~g["tag"].isin(known)
        if bad.any():
            q = pd.concat([q, pd.DataFrame({
                "source": str(path), "row": -1, "ticket_id": g.loc[bad, "ticket_id"], "reason": "unknown_tag",
                "detail": [f"tag {t!r} is not in the tag list" for t in g.loc[bad, "tag"]], "raw": ""})],
                ignore_index=True)
            g = g[~bad].reset_index(drop=True)
        gold[name] = g
        frames.append(q)
    gold["gold_dev"] = attach_pool_fields(gold["gold_dev"], pool)
    overlap = set(gold["gold_test"]["ticket_id"]) & (set(pool["ticket_id"]) | set(gold["gold_dev"]["ticket_id"]))
    if overlap:
        raise ValueError(f"{len(overlap)} gold_test tickets also appear in the pool or gold_dev "
                         f"(e.g. {sorted(overlap)[:3]}); the test set must be held out")
    quarantine = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) \
        else frames[0]
    report.update({"pool_rows": int(len(pool)), "gold_dev_rows": int(len(gold["gold_dev"])),
                   "gold_test_rows": int(len(gold["gold_test"])), "quarantined": int(len(quarantine)),
                   "quarantine_reasons": quarantine_summary(quarantine)})
    return Dataset(tags, tag_table, pool, gold["gold_dev"], gold["gold_test"], quarantine, report)


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
    """LFs that do not depend on gold_dev: operator-tag, neighbor and the spec files' LFs."""
    specs: list[LFSpec] = []
    if cfg.lfs.operator_tags and cfg.dataset.use_operator_tags:
        specs += operator_lfs(ds.tags)
    if cfg.lfs.neighbor.enabled and cfg.dataset.use_operator_tags:
        specs += neighbor_lfs(ds.tags, cfg.lfs.neighbor.k, cfg.lfs.neighbor.min_share)
    for d in cfg.lfs.spec_dirs:
        specs += [s for s in load_specs(d) if s.status in cfg.lfs.statuses]
    check_unique(specs)
    return specs


@dataclass
class WeakLabels:
    specs: list[LFSpec]
    L: np.ndarray
    L_dev: np.ndarray
    summary: pd.DataFrame
    thresholds: pd.DataFrame
    proba: np.ndarray
    mv: np.ndarray
    dev_lm: np.ndarray
    dev_mv: np.ndarray
    method: str
    families: list[str]
    fit_seconds: float


class WeakLabeler:
    """Builds LFs, applies them and fits the label model, for all of gold_dev or a fold of it.

    LFs that do not depend on gold_dev are applied once; exemplar LFs, LF weights and the label
    model's dev-precision seeds use only the gold_dev rows passed as ``dev_train``.
    """

    def __init__(self, cfg: RunConfig, ds: Dataset, pool_emb: np.ndarray, dev_emb: np.ndarray, encoder: Encoder):
        self.cfg, self.ds, self.pool_emb, self.dev_emb, self.encoder = cfg, ds, pool_emb, dev_emb, encoder
        self.tag_index = {x: i for i, x in enumerate(ds.tags)}
        self.y_dev = ds.gold_dev["tag"].map(self.tag_index).to_numpy()
        self.fixed = fixed_lfs(cfg, ds)
        self.reference = Reference(ds.pool, pool_emb)
        compiled = compile_lfs(self.fixed, ds.tags, embed=encoder, reference=self.reference)
        self.L_fixed = apply_lfs(ds.pool, compiled, pool_emb)
        self.L_fixed_dev = apply_lfs(ds.gold_dev, compiled, dev_emb)
        self.prior = estimate_prior(ds.pool["operator_tag"].dropna(), ds.tags)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _apply_cached(self, specs: list[LFSpec]) -> tuple[np.ndarray, np.ndarray]:
        """Pool and dev votes of ``specs``; an LF whose spec did not change is never re-applied."""
        n, nd = len(self.ds.pool), len(self.ds.gold_dev)
        todo = [s for s in specs if _spec_key(s) not in self._cache]
        if todo:
            comp = compile_lfs(todo, self.ds.tags, embed=self.encoder, reference=self.reference)
            Lp = apply_lfs(self.ds.pool, comp, self.pool_emb)
            Ld = apply_lfs(self.ds.gold_dev, comp, self.dev_emb)
            for j, s in enumerate(todo):
                self._cache[_spec_key(s)] = (Lp[:, j], Ld[:, j])
        if not specs:
            return np.empty((n, 0), dtype=np.int16), np.empty((nd, 0), dtype=np.int16)
        cols = [self._cache[_spec_key(s)] for s in specs]
        return np.stack([c[0] for c in cols], 1), np.stack([c[1] for c in cols], 1)

    def __call__(self, dev_train: np.ndarray, extra_specs: list[LFSpec] = ()) -> WeakLabels:
        cfg, ds = self.cfg, self.ds
        n_tags = len(ds.tags)
        specs, thresholds = list(self.fixed), pd.DataFrame()
        L, L_dev = self.L_fixed, self.L_fixed_dev
        if cfg.lfs.exemplar.enabled:
            e = cfg.lfs.exemplar
            ex, thresholds = exemplar_lfs(ds.gold_dev[dev_train], self.dev_emb[dev_train], ds.tags, e.thresholds,
                                          e.min_precision, e.min_support)
            specs += ex
        specs += list(extra_specs)
        Lx, Lx_dev = self._apply_cached(specs[len(self.fixed):])
        L, L_dev = np.hstack([L, Lx]), np.hstack([L_dev, Lx_dev])
        check_unique(specs)
        yd, Ld = self.y_dev[dev_train], L_dev[dev_train]
        summary = lf_summary(L, specs, ds.tags, Y=yd, L_dev=Ld)
        families = [sp.family for sp in specs]
        lf_prec = summary["dev_precision"].fillna(0.5).to_numpy()
        Lf, fam_names = collapse_families(L, families, n_tags, lf_prec)
        Lf_dev, _ = collapse_families(L_dev, families, n_tags, lf_prec)
        # majority vote: snorkel's MajorityLabelVoter over the same family voters
        mv, dev_mv = majority_vote_proba(Lf, n_tags), majority_vote_proba(Lf_dev, n_tags)
        lm_cfg = cfg.label_model
        if lm_cfg.kind == "snorkel":
            prec_init = np.clip(family_dev_precision(Lf_dev[dev_train], yd), 0.5, 0.99)
            lm = SourceLabelModel(n_tags, n_epochs=lm_cfg.n_epochs, lr=lm_cfg.lr, l2=lm_cfg.l2,
                                  blas_threads=lm_cfg.blas_threads, seed=lm_cfg.seed) \
                .fit(L, families, self.prior, lf_weight=lf_prec, prec_init=prec_init)
            proba, dev_lm, fit_s, method = lm.predict_proba(L), lm.predict_proba(L_dev), lm.fit_seconds_, lm.method_
        else:
            proba, dev_lm, fit_s, method = mv, dev_mv, 0.0, "majority_vote"
        return WeakLabels(specs, L, L_dev, summary, thresholds, proba, mv, dev_lm, dev_mv, method, fam_names, fit_s)


def _spec_key(s: LFSpec) -> str:
    return json.dumps({"tag": s.tag, "kind": s.kind, "params": s.params.model_dump(mode="json")}, sort_keys=True)


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id per row, stratified by label."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=np.int64)
    start = 0  # each tag continues where the last one stopped, so tags with fewer than k rows fill every fold
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        rng.shuffle(idx)
        fold[idx] = (start + np.arange(len(idx))) % k
        start = (start + len(idx)) % k
    return fold


def one_hot(labels, tags: list[str]) -> np.ndarray:
    index = {t: i for i, t in enumerate(tags)}
    Y = np.zeros((len(labels), len(tags)), dtype=np.float32)
    Y[np.arange(len(labels)), [index[t] for t in labels]] = 1.0
    return Y


def training_set(pool: pd.DataFrame, proba: np.ndarray, mask: np.ndarray, gold_dev: pd.DataFrame,
                 tags: list[str], dev_weight: float, min_conf: float = 0.0, exclude_ids=()):
    """Covered pool tickets with their soft labels, plus gold_dev (one-hot, weighted) replacing any
    weak label the same ticket has; ``exclude_ids`` (held-out dev tickets) are left out entirely.
    Returns (mask of pool rows used, texts, Y, w)."""
    drop = set(exclude_ids) | (set(gold_dev["ticket_id"]) if dev_weight > 0 else set())
    keep = mask & ~pool["ticket_id"].isin(drop).to_numpy()
    if min_conf > 0:
        keep &= proba.max(axis=1) >= min_conf
    texts = pool["text"].to_numpy()[keep].tolist()
    Y = proba[keep].astype(np.float32)
    w = np.ones(len(Y), dtype=np.float32)
    if dev_weight > 0:
        texts += gold_dev["text"].tolist()
        Y = np.vstack([Y, one_hot(gold_dev["tag"], tags)])
        w = np.concatenate([w, np.full(len(gold_dev), dev_weight, dtype=np.float32)])
    return keep, texts, Y, w


def candidate_recipes(cfg: RunConfig, unlabeled_share: float = 1.0, has_text_lfs: bool = False) -> list[dict]:
    """Training recipes: weak labels plus gold_dev at each weight and minimum confidence (each also
    with confident-learning pruning when ``select.prune_noisy``), gold_dev alone, and self-training
    variants (for weak recipes only when at least
    ``select.self_train_min_unlabeled`` of the pool has no weak label to pseudo-label), and with
    ``has_text_lfs`` each self-training recipe again per LF-vote bonus in ``select.lf_boosts``; each on every
    head feature set in ``select.features`` (``embedding+char`` only in frozen mode)."""
    sel, em = cfg.end_model.select, cfg.end_model
    if not sel.enabled:
        name = f"weak+dev_w{em.gold_dev_weight:g}" + ("+char" if em.features == "embedding+char" else "")
        return [{"name": name, "weak": True, "dev_weight": em.gold_dev_weight, "self_train": 0,
                 "features": em.features}]
    out = []
    for w in sel.gold_dev_weights:
        for mc in sel.min_confidences or [em.min_confidence]:
            name = f"weak+dev_w{w:g}" + (f"+conf{mc:g}" if mc > 0 else "")
            out.append({"name": name, "weak": True, "dev_weight": float(w), "self_train": 0, "min_confidence": float(mc)})
            if sel.prune_noisy:
                out.append({**out[-1], "name": name + "+prune", "prune": True})
    if sel.include_dev_only:
        out.append({"name": "dev_only", "weak": False, "dev_weight": 1.0, "self_train": 0})
    if sel.self_train:
        st = {"self_train": sel.self_train_rounds, "self_train_min_confidence": sel.self_train_min_confidence,
              "self_train_labels": sel.self_train_labels}
        st_recipes = [{**r, **st, "name": r["name"] + "+self_train"} for r in list(out)
                      if not r["weak"] or unlabeled_share >= sel.self_train_min_unlabeled]
        out += st_recipes
        if has_text_lfs:
            out += [{**r, "lf_boost": float(a), "name": r["name"] + f"+boost{a:g}"}
                    for a in sel.lf_boosts if a > 0 for r in st_recipes]
    feats = [f for f in dict.fromkeys(sel.features) if em.mode == "frozen" or f == "embedding"]
    return [{**r, "features": f, "name": r["name"] + ("+char" if f == "embedding+char" else "")}
            for f in feats for r in out]


def fit_lexical(cfg: RunConfig, texts):
    """The lexical block (``models.lexical.CharLSA``) of ``end_model.lexical``, fitted on ``texts``."""
    from models.lexical import CharLSA

    return CharLSA(**cfg.end_model.lexical.model_dump(), seed=cfg.seed).fit(texts)


def feature_sets(recipes: list[dict], ds: Dataset, pool_emb: np.ndarray, dev_emb: np.ndarray,
                 lexical=None) -> dict:
    """``{feature set: (pool X, dev X)}`` for the feature sets that ``recipes`` use."""
    from models.lexical import head_features

    out = {"embedding": (pool_emb, dev_emb)}
    if any(r.get("features") == "embedding+char" for r in recipes):
        if lexical is None:
            raise ValueError("embedding+char recipes need a fitted lexical block")
        out["embedding+char"] = (head_features(pool_emb, lexical.transform(ds.pool["text"])),
                                 head_features(dev_emb, lexical.transform(ds.gold_dev["text"])))
    return out


def fit_recipe_head(recipe: dict, X: np.ndarray, Y: np.ndarray, w: np.ndarray, unlabeled: np.ndarray,
                    head_kw: dict, votes_unl: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train the head; with ``self_train`` rounds, add the head's own confident predictions on the
    ``unlabeled`` embeddings (pool tickets without a training label) as pseudo-labels (one-hot
    argmax, or soft with ``self_train_labels: soft``) and retrain. With ``lf_boost`` the predictions
    behind the pseudo-labels take the LF votes (``votes_unl``) as a logit bonus (:func:`lf_boosted`), so
    self-training may follow a rule the head has not learned yet. Returns ``(W, b, pseudo_mask)``."""
    W, b = train_head(X, Y, w, **head_kw)
    m = np.zeros(len(unlabeled), dtype=bool)
    for _ in range(recipe.get("self_train", 0)):
        P = lf_boosted(head_proba(unlabeled, W, b).astype(np.float32), votes_unl, recipe.get("lf_boost", 0.0))
        m = P.max(axis=1) >= recipe.get("self_train_min_confidence", 0.5)
        T = pseudo_labels(P, recipe)
        W, b = train_head(np.vstack([X, unlabeled[m]]), np.vstack([Y, T[m]]),
                          np.concatenate([w, np.ones(int(m.sum()), dtype=np.float32)]), **head_kw)
    return W, b, m


def pseudo_labels(P: np.ndarray, recipe: dict) -> np.ndarray:
    if recipe.get("self_train_labels", "soft") == "hard":
        return np.eye(P.shape[1], dtype=np.float32)[P.argmax(axis=1)]
    return P.astype(np.float32)


def noisy_label_flags(X: np.ndarray, labels: np.ndarray, n_classes: int, head_kw: dict, folds: int = 5,
                      seed: int = 0) -> np.ndarray:
    """Confident learning (Northcutt et al., 2021) on hard labels: out-of-fold head probabilities
    ``p``; per class the threshold ``t_c`` is the mean ``p_c`` over rows labelled ``c``; a row is
    flagged when the class it most likely belongs to is not its label and that class's probability
    reaches its threshold. Returns a boolean mask (True = label likely wrong)."""
    n = len(labels)
    flags = np.zeros(n, dtype=bool)
    if n < 2 * folds:
        return flags
    E = np.eye(n_classes, dtype=np.float32)
    fold = np.random.default_rng(seed).permutation(np.arange(n) % folds)
    P = np.zeros((n, n_classes), dtype=np.float32)
    for f in range(folds):
        tr = fold != f
        W, b = train_head(X[tr], E[labels[tr]], **head_kw)
        P[~tr] = head_proba(X[~tr], W, b)
    own = P[np.arange(n), labels]
    thr = np.ones(n_classes, dtype=np.float32)
    for c in np.unique(labels):
        thr[c] = own[labels == c].mean()
    pred = P.argmax(axis=1)
    return (pred != labels) & (P[np.arange(n), pred] >= thr[pred])


def weak_label_flags(X: np.ndarray, proba: np.ndarray, candidates: np.ndarray, head_kw: dict, folds: int,
                     seed: int) -> np.ndarray:
    """Pool-length mask of ``candidates`` rows whose weak label (argmax) confident learning flags."""
    out = np.zeros(len(candidates), dtype=bool)
    rows = np.flatnonzero(candidates)
    if len(rows):
        out[rows] = noisy_label_flags(X[rows], proba[rows].argmax(axis=1), proba.shape[1], head_kw, folds, seed)
    return out


def prune_flags(recipe: dict, ds: Dataset, X: np.ndarray, proba: np.ndarray, mask: np.ndarray, head_kw: dict,
                folds: int, seed: int) -> np.ndarray:
    """The weak labels the final model drops under a ``prune`` recipe: confident-learning flags over
    the covered pool, less gold_dev tickets when the recipe trains on gold_dev (they train on their
    gold label, never on the weak one, so they are neither dropped nor listed for review)."""
    flagged = weak_label_flags(X, proba, mask, head_kw, folds, seed)
    if recipe["dev_weight"] > 0:
        flagged &= ~ds.pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
    return flagged


def recipe_training_set(recipe: dict, ds: Dataset, proba: np.ndarray, mask: np.ndarray, dev: pd.DataFrame,
                        min_conf: float, exclude_ids=(), flagged: np.ndarray | None = None):
    use = mask if recipe["weak"] else np.zeros(len(mask), dtype=bool)
    if recipe.get("prune"):
        if flagged is None:
            raise ValueError(f"recipe {recipe['name']} prunes weak labels but no flags were computed")
        use = use & ~flagged
    min_conf = max(min_conf, recipe.get("min_confidence", 0.0))
    return training_set(ds.pool, proba, use, dev, ds.tags, recipe["dev_weight"], min_conf, exclude_ids)


def seen_dev_mask(cfg: RunConfig, ds: Dataset, specs: list[LFSpec], gate_mask: np.ndarray | None = None) -> np.ndarray:
    """gold_dev rows that an LF proposer or gate has seen: the refinement loop's gating half
    (``gate_mask``), the ``seen_dev_tickets.json`` that generated-LF folders carry, and every ticket an
    LF cites (``provenance.motivating_tickets``, exemplar ids). Recipe selection never scores them."""
    from llm_rulegen.loop import SEEN_FILE

    ids: set[str] = set()
    for d in cfg.lfs.spec_dirs:
        for f in ([Path(d)] if Path(d).is_file() else Path(d).rglob(SEEN_FILE)):
            if f.name == SEEN_FILE:
                ids |= set(json.loads(f.read_text())["ticket_ids"])
    for sp in specs:
        ids |= {str(t) for t in sp.provenance.get("motivating_tickets", []) or []}
        if sp.kind == "exemplar":
            ids |= {str(t) for t in sp.params.exemplar_ids if t is not None}
    seen = ds.gold_dev["ticket_id"].astype(str).isin(ids).to_numpy()
    return seen | gate_mask if gate_mask is not None else seen


def holdout_folds(y: np.ndarray, seen: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id per gold_dev row for recipe CV; ``seen`` rows get -1 (always training, never scored)."""
    folds = np.full(len(y), -1, dtype=np.int64)
    folds[~seen] = stratified_folds(y[~seen], k, seed)
    return folds


def select_recipe(cfg: RunConfig, ds: Dataset, labeler: WeakLabeler, feats: dict, recipes: list[dict],
                  head_kw: dict, extra: list[LFSpec] = (), seen: np.ndarray | None = None) -> dict:
    """K-fold cross-validation on gold_dev: per fold, LFs and the label model see only the training
    folds, held-out dev tickets are removed from the pool, and each recipe's head is scored
    (macro-F1) on the held-out fold. With ``select.holdout: unseen`` the ``seen`` rows (tickets an LF
    proposer or gate saw, see :func:`seen_dev_mask`) are never held out: they stay in every training
    fold, so no LF is scored on the tickets it was written or gated on. ``feats`` maps each feature
    set to its (pool, dev) matrices (see ``feature_sets``). gold_test plays no part."""
    from sklearn.metrics import f1_score

    k = cfg.end_model.select.folds
    y = labeler.y_dev
    if seen is None or cfg.end_model.select.holdout == "all":
        seen = np.zeros(len(y), dtype=bool)
    if (~seen).sum() < 2 * k:
        raise ValueError(f"recipe selection needs at least {2 * k} gold_dev tickets that no LF proposer or gate has "
                         f"seen, there are {int((~seen).sum())}; set end_model.select.holdout: all to score on all")
    folds = holdout_folds(y, seen, k, cfg.seed)
    scores = {r["name"]: [] for r in recipes}
    t0 = time.perf_counter()
    log.info("recipe CV: %d recipes x %d folds on %d unseen gold_dev tickets", len(recipes), k, int((~seen).sum()))
    for f in range(k):
        tr, va = folds != f, folds == f
        wl = labeler(tr, extra_specs=extra)
        mask = covered(wl.L)
        votes, dev_votes = tag_votes(wl.L, wl.specs, ds.tags), tag_votes(wl.L_dev, wl.specs, ds.tags)
        dev_tr = ds.gold_dev[tr]
        held_out = ds.gold_dev["ticket_id"][va]
        flags: dict[str, np.ndarray] = {}  # per feature set, computed once per fold
        for r in recipes:
            fs = r.get("features", "embedding")
            pool_X, dev_X = feats[fs]
            if r.get("prune") and fs not in flags:
                cand = mask & ~ds.pool["ticket_id"].isin(held_out).to_numpy()
                flags[fs] = weak_label_flags(pool_X, wl.proba, cand, head_kw, cfg.end_model.select.prune_folds,
                                             cfg.seed)
            keep, _, Y, w = recipe_training_set(r, ds, wl.proba, mask, dev_tr, cfg.end_model.min_confidence,
                                                exclude_ids=held_out, flagged=flags.get(fs))
            X = np.vstack([pool_X[keep], dev_X[tr]]) if r["dev_weight"] > 0 else pool_X[keep]
            unl = ~keep & ~ds.pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
            W, b, _ = fit_recipe_head(r, X, Y, w, pool_X[unl], head_kw, votes[unl])
            pred = lf_boosted(head_proba(dev_X[va], W, b), dev_votes[va], r.get("lf_boost", 0.0)).argmax(1)
            scores[r["name"]].append(float(f1_score(y[va], pred, average="macro",
                                                    labels=np.unique(y[va]), zero_division=0)))
        took = time.perf_counter() - t0
        log.info("recipe CV: fold %d/%d done (%d recipes), %.0fs elapsed, about %.0fs left", f + 1, k, len(recipes),
                 took, took / (f + 1) * (k - f - 1))
    table = [{"recipe": r["name"], "cv_macro_f1_mean": float(np.mean(scores[r["name"]])),
              "cv_macro_f1_std": float(np.std(scores[r["name"]])), "folds": scores[r["name"]]} for r in recipes]
    best = max(range(len(recipes)), key=lambda i: table[i]["cv_macro_f1_mean"])
    return {"folds": k, "table": table, "chosen": recipes[best], "holdout": cfg.end_model.select.holdout,
            "scored_tickets": int((~seen).sum()), "never_scored_seen_tickets": int(seen.sum())}


def run_pipeline(cfg: RunConfig, run_dir: Path | None = None, progress: bool = True) -> Path:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    run_dir = run_dir or Path(cfg.output_dir) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    np.random.seed(cfg.seed)

    def lap(name: str, t0: float) -> float:
        timings[name] = round(time.perf_counter() - t0, 3)
        log.info("%-14s %.1fs", name, timings[name])
        return time.perf_counter()

    t = time.perf_counter()
    ds = load_dataset(cfg)
    ds.quarantine.to_csv(run_dir / "quarantine.csv", index=False)
    log.info("ingest: %s", json.dumps(ds.ingest_report))
    t = lap("ingest", t)

    em = cfg.end_model
    encoder = Encoder(max_length=em.max_length, batch_size=em.batch_size, cache_dir=cfg.cache_dir, progress=progress)
    pool_emb = encoder(ds.pool["text"].tolist())
    dev_emb = encoder(ds.gold_dev["text"].tolist())
    t = lap("embed", t)

    labeler = WeakLabeler(cfg, ds, pool_emb, dev_emb, encoder)
    t = lap("fixed_lfs", t)
    extra: list[LFSpec] = []
    refinement, gate_mask = None, None
    if cfg.refine.enabled:
        from tagger.refine import refine

        res = refine(cfg, ds, labeler, pool_emb, dev_emb, run_dir / "refine")
        gate_mask = res.gate_mask
        kept = res.best_lfs if cfg.refine.keep_round == "best" else res.all_lfs
        extra = [s for s in kept if s.status in cfg.lfs.statuses]
        refinement = {"best_round": res.best_round, "kept_round": cfg.refine.keep_round, "stop_reason": res.stop_reason,
                      "rounds": res.rounds,
                      "split": res.split, "generated_lfs": len(res.all_lfs), "used_lfs": len(extra),
                      "rejected": len(res.rejected)}
        t = lap("refine", t)
    head_kw = {"l2": em.head.l2, "max_iter": em.head.max_iter, "seed": cfg.seed}
    wl = labeler(np.ones(len(ds.gold_dev), dtype=bool), extra_specs=extra)
    recipes = candidate_recipes(cfg, unlabeled_share=float(1 - covered(wl.L).mean()),
                                has_text_lfs=bool(text_lfs(wl.specs)))
    # the lexical block is fitted on pool text only (no labels), so every CV fold may share it
    lexical = fit_lexical(cfg, ds.pool["text"]) if any(r["features"] == "embedding+char" for r in recipes) else None
    feats = feature_sets(recipes, ds, pool_emb, dev_emb, lexical)
    selection = None
    if len(recipes) > 1:
        # the loop's gating half counts as seen only when some LF it generated reaches this run
        seen = seen_dev_mask(cfg, ds, labeler.fixed + extra, gate_mask if extra else None)
        selection = select_recipe(cfg, ds, labeler, feats, recipes, head_kw, extra, seen)
        recipe = selection["chosen"]
        log.info("recipe chosen by %d-fold CV on gold_dev: %s", cfg.end_model.select.folds, recipe)
    else:
        recipe = recipes[0]
    t = lap("select", t)

    specs, L, L_dev, summary = wl.specs, wl.L, wl.L_dev, wl.summary
    y_dev = labeler.y_dev
    dump_specs(specs, run_dir / "lfs.yaml")
    wl.thresholds.to_csv(run_dir / "exemplar_thresholds.csv", index=False)
    summary.to_csv(run_dir / "lf_summary.csv", index=False)
    proba, mv, mask = wl.proba, wl.mv, covered(L)
    dev_cov = covered(L_dev)

    def dev_acc(P):
        return float((P[dev_cov].argmax(1) == y_dev[dev_cov]).mean()) if dev_cov.any() else float("nan")

    label_stats = {
        "kind": cfg.label_model.kind, "method": wl.method, "families": wl.families,
        "fit_seconds": round(wl.fit_seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1), "n_lfs": len(specs),
        **label_matrix_summary(L), "gold_dev_coverage": float(dev_cov.mean()),
        "gold_dev_accuracy_label_model": dev_acc(wl.dev_lm), "gold_dev_accuracy_majority_vote": dev_acc(wl.dev_mv),
        "note": "gold_dev accuracy of the argmax label on covered dev tickets; exemplar LFs are leave-one-out "
                "and the label model's seeds use gold_dev, so this is optimistic",
    }
    log.info("label model: %s", json.dumps(label_stats))
    t = lap("label_model", t)

    pool_X, dev_X = feats[recipe["features"]]
    flagged = None
    if recipe.get("prune"):
        flagged = prune_flags(recipe, ds, pool_X, proba, mask, head_kw, em.select.prune_folds, cfg.seed)
        log.info("confident learning flagged %d of %d weak labels as likely wrong", flagged.sum(), mask.sum())
    keep, texts, Y, w = recipe_training_set(recipe, ds, proba, mask, ds.gold_dev, em.min_confidence, flagged=flagged)
    X = np.vstack([pool_X[keep], dev_X]) if recipe["dev_weight"] > 0 else pool_X[keep]
    pd.DataFrame({"ticket_id": list(ds.pool["ticket_id"][keep]) +
                  (ds.gold_dev["ticket_id"].tolist() if recipe["dev_weight"] > 0 else []),
                  "label": [ds.tags[i] for i in Y.argmax(1)], "confidence": Y.max(1), "weight": w}) \
        .to_parquet(run_dir / "train_labels.parquet", index=False)
    unl = ~keep & ~ds.pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
    boost = recipe.get("lf_boost", 0.0)
    votes_unl = tag_votes(L, specs, ds.tags)[unl]
    W, b, pseudo = fit_recipe_head(recipe, X, Y, w, pool_X[unl], head_kw, votes_unl)
    if flagged is not None:
        write_label_issues(run_dir / "label_issues.csv", ds, proba, flagged, head_proba(pool_X[flagged], W, b))
    if pseudo.any():  # the fine-tune sees the same pseudo-labelled tickets as the head
        P_unl = pseudo_labels(lf_boosted(head_proba(pool_X[unl][pseudo], W, b), votes_unl[pseudo], boost), recipe)
        texts += ds.pool["text"].to_numpy()[unl][pseudo].tolist()
        Y, w = np.vstack([Y, P_unl]), np.concatenate([w, np.ones(len(P_unl), dtype=np.float32)])
    info = ModelInfo(tags=ds.tags, mode=em.mode, max_length=em.max_length, mask_pii=cfg.ingest.mask_pii,
                     speakers=list(cfg.ingest.speakers), max_chars=cfg.ingest.max_chars, run_name=run_dir.name,
                     features=recipe["features"], lf_boost=boost)
    rules = text_lfs(specs) if boost else []  # the LFs the model applies to new tickets
    if em.mode == "finetune":
        ft = em.finetune
        tok, clf = finetune(texts, Y, w, W, b, max_length=em.max_length, epochs=ft.epochs, lr=ft.lr,
                            batch_size=ft.batch_size, warmup_ratio=ft.warmup_ratio, weight_decay=ft.weight_decay,
                            seed=cfg.seed, progress=progress)
        model = finetuned_model(info, tok, clf, rules)
    else:
        model = frozen_model(info, W, b, lexical if recipe["features"] == "embedding+char" else None, rules)
    t = lap("end_model", t)

    # ---- baselines, trained the same way (frozen encoder + linear head) ----
    baselines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    ev = cfg.evaluation
    if "gold_dev" in ev.baselines:
        baselines["baseline_gold_dev_only"] = train_head(dev_emb, one_hot(ds.gold_dev["tag"], ds.tags),
                                                         **head_kw)
    if "operator" in ev.baselines and cfg.dataset.use_operator_tags:
        has = ds.pool["operator_tag"].notna().to_numpy()
        if has.any():
            baselines["baseline_operator_tags"] = train_head(
                pool_emb[has], one_hot(ds.pool["operator_tag"][has], ds.tags), **head_kw)
    if "majority_vote" in ev.baselines and mask.any():
        baselines["baseline_majority_vote"] = train_head(pool_emb[mask], mv[mask].astype(np.float32),
                                                         **head_kw)
    t = lap("baselines", t)

    # ---- final scoring on gold_test (read here only) ----
    test_texts = ds.gold_test["text"].tolist()
    fees = ds.tag_table.loc[ds.tag_table["fees_group"], "tag"].tolist() if "fees_group" in ds.tag_table else None
    results = {}
    test_emb = encoder(test_texts)
    P_test = model.predict_proba(test_texts, batch_size=em.batch_size, progress=progress) \
        if em.mode == "finetune" else model.proba(test_texts, test_emb)
    results["model"] = score(ds.gold_test["tag"], [ds.tags[i] for i in P_test.argmax(1)], ds.tags, fees)
    for name, (Wb, bb) in baselines.items():
        pred = head_proba(test_emb, Wb, bb).argmax(1)
        results[name] = score(ds.gold_test["tag"], [ds.tags[i] for i in pred], ds.tags, fees)
    t = lap("evaluate", t)

    model.save(run_dir / "model")
    t = lap("save", t)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    metrics = {
        "run": run_dir.name, "config": cfg.config_path, "dataset": {
            "pool": str(cfg.dataset.pool) if isinstance(cfg.dataset.pool, str) else cfg.dataset.pool.url,
            "use_operator_tags": cfg.dataset.use_operator_tags, "tags": len(ds.tags)},
        "ingest": ds.ingest_report, "label_model": label_stats,
        "training": {"tickets": int(len(Y)), "pseudo_labelled": int(pseudo.sum()), "pool_covered": int(mask.sum()), "pool_total": int(len(ds.pool)),
                     "weak_labels_pruned": None if flagged is None else int(flagged.sum()),
                     "recipe": recipe, "mode": em.mode},
        "selection": selection,
        "refinement": refinement,
        "test": {k: {kk: vv for kk, vv in v.items() if kk != "confusion_matrix"} for k, v in results.items()},
        "timings_s": timings, "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    per_tag_frame(results).to_csv(run_dir / "per_tag.csv", index=False)
    pd.DataFrame(results["model"]["confusion_matrix"], index=ds.tags, columns=ds.tags) \
        .to_csv(run_dir / "confusion.csv")
    plot_results(results, ds.tags, run_dir)
    write_summary(run_dir, metrics, results)
    write_lf_examples(run_dir, specs, L, L_dev, ds)
    from tagger.report import write_report

    write_report(run_dir)
    return run_dir


def write_label_issues(path: Path, ds: Dataset, proba: np.ndarray, flagged: np.ndarray, P_model: np.ndarray) -> None:
    """The pool tickets whose weak label confident learning flagged (left out of training): ticket,
    weak label and its confidence, the operator's tag where there is one, and the tag the trained
    head gives (``P_model``: its probabilities on the flagged rows). A review list for analysts."""
    rows = np.flatnonzero(flagged)
    cols = {"ticket_id": ds.pool["ticket_id"].to_numpy()[rows],
            "weak_label": [ds.tags[i] for i in proba[rows].argmax(1)],
            "weak_confidence": np.round(proba[rows].max(1), 4)}
    if "operator_tag" in ds.pool:
        cols["operator_tag"] = ds.pool["operator_tag"].to_numpy()[rows]
    cols["model_tag"] = [ds.tags[i] for i in P_model.argmax(1)]
    cols["model_probability"] = np.round(P_model.max(1), 4)
    cols["text"] = ds.pool["text"].to_numpy()[rows]
    pd.DataFrame(cols).to_csv(path, index=False)


def write_lf_examples(run_dir: Path, specs: list[LFSpec], L: np.ndarray, L_dev: np.ndarray, ds: Dataset,
                      n: int = 3) -> None:
    """Up to ``n`` example hits per LF: correct and incorrect on gold_dev, and unlabeled pool tickets."""
    from data.schema import one_line

    def clip(t: str) -> str:
        return one_line(t, 200)

    y = ds.gold_dev["tag"].to_numpy()
    dev_text = ds.gold_dev["text"].to_numpy()
    unl = ~ds.pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
    pool_text = ds.pool["text"].to_numpy()
    out = {}
    for j, sp in enumerate(specs):
        fired = L_dev[:, j] != -1
        ok = np.flatnonzero(fired & (y == sp.tag))[:n]
        bad = np.flatnonzero(fired & (y != sp.tag))[:n]
        pool = np.flatnonzero((L[:, j] != -1) & unl)[:n]
        out[sp.id] = {"ok": [clip(dev_text[i]) for i in ok],
                      "bad": [f"(true: {y[i]}) {clip(dev_text[i])}" for i in bad],
                      "pool": [clip(pool_text[i]) for i in pool]}
    (run_dir / "lf_examples.json").write_text(json.dumps(out, indent=1))


def write_summary(run_dir: Path, metrics: dict, results: dict) -> None:
    lm = metrics["label_model"]
    lines = [f"# Run {metrics['run']}", "", "## gold_test scores", "", summary_table(results), "",
             "## Label model (gold_dev, covered tickets)", "",
             "| aggregator | dev accuracy |", "|---|---|",
             f"| {lm['method']} | {lm['gold_dev_accuracy_label_model']:.4f} |",
             f"| majority vote | {lm['gold_dev_accuracy_majority_vote']:.4f} |", "",
             f"LFs: {lm['n_lfs']}, pool coverage {lm['coverage']:.3f}, label-model fit {lm['fit_seconds']:.1f}s, "
             f"peak RSS {metrics['peak_rss_mb']:.0f} MB", "",
             "## Most confused tag pairs (model, gold_test)", "", "| true | predicted | count |", "|---|---|---|"]
    lines += [f"| {c['true']} | {c['pred']} | {c['count']} |" for c in results["model"]["top_confusions"][:10]]
    sel = metrics.get("selection")
    if sel:
        lines += ["", f"## Training recipe ({sel['folds']}-fold CV on gold_dev)", "",
                  f"Scored on {sel.get('scored_tickets', '?')} gold_dev tickets; "
                  f"{sel.get('never_scored_seen_tickets', 0)} tickets that LF proposers or the gate saw train in every "
                  f"fold and are never scored (holdout: {sel.get('holdout', 'all')}).", "",
                  "| recipe | CV macro-F1 | std |", "|---|---|---|"]
        lines += [f"| {r['recipe']}{' (chosen)' if r['recipe'] == sel['chosen']['name'] else ''} | "
                  f"{r['cv_macro_f1_mean']:.4f} | {r['cv_macro_f1_std']:.4f} |" for r in sel["table"]]
    ref = metrics.get("refinement")
    if ref:
        lines += ["", "## Refinement rounds (gold_dev split: gate / select halves)", "",
                  rounds_table(ref["rounds"], ref["best_round"], ref["stop_reason"])]
    lines += ["", "Plots: `per_tag_f1.png`, `confusion_top.png`."]
    lines += ["", "## Ingest", "", "```", json.dumps(metrics["ingest"], indent=2), "```", "",
              "## Timings (s)", "", "```", json.dumps(metrics["timings_s"], indent=2), "```"]
    (run_dir / "summary.md").write_text("\n".join(lines) + "\n")


def run_refine(cfg: RunConfig, run_dir: Path | None = None, progress: bool = True) -> Path:
    """Only the refinement loop (``tagger refine``): writes ``RUN_DIR/refine/`` (rounds.json,
    generated_lfs.yaml, rejected.csv) and ``RUN_DIR/refine_summary.md``."""
    from tagger.refine import refine

    run_dir = run_dir or Path(cfg.output_dir) / f"{cfg.name}-refine-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(cfg)
    ds.quarantine.to_csv(run_dir / "quarantine.csv", index=False)
    em = cfg.end_model
    encoder = Encoder(max_length=em.max_length, batch_size=em.batch_size, cache_dir=cfg.cache_dir, progress=progress)
    pool_emb, dev_emb = encoder(ds.pool["text"].tolist()), encoder(ds.gold_dev["text"].tolist())
    labeler = WeakLabeler(cfg, ds, pool_emb, dev_emb, encoder)
    res = refine(cfg, ds, labeler, pool_emb, dev_emb, run_dir / "refine")
    dump_specs(res.best_lfs, run_dir / "refine" / "best_lfs.yaml")
    (run_dir / "refine_summary.md").write_text(rounds_table(res.rounds, res.best_round, res.stop_reason) + "\n")
    return run_dir


def rounds_table(rounds: list[dict], best: int, stop: str) -> str:
    lines = ["| round | LFs (generated) | added | retired | rejected | dev gate macro-F1 | dev select macro-F1 | tokens | cost $ |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rounds:
        u = r.get("usage") or {}
        tok = int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
        lines.append(f"| {r['round']}{' (best)' if r['round'] == best else ''} | {r['active_lfs']} ({r['generated_lfs']}) | "
                     f"{len(r.get('added', []))} | {len(r.get('retired', []))} | {r.get('rejected', 0)} | "
                     f"{r['dev_gate_macro_f1']:.4f} | {r['dev_select_macro_f1']:.4f} | {tok} | {u.get('cost_usd', 0):.4f} |")
    lines.append(f"\nStopped: {stop}. Tokens and cost are those spent proposing after that round's scores.")
    return "\n".join(lines)
