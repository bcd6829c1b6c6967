"""Recipe selection: the candidate training recipes and their K-fold cross-validation on gold_dev.

Only gold_dev tickets that no LF proposer or gate has seen are scored (``select.holdout: unseen``);
per fold, LFs, the label model and the head see only the training folds. gold_test plays no part.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from data.progress import progress
from data.sampling import sample_rows
from labeling_functions.label_model import covered
from labeling_functions.spec import LFSpec
from labeling_functions.votes import tag_votes
from labeling_functions.weak import WeakLabeler
from models.end_model import head_proba, lf_boosted
from models.noise import weak_label_flags
from models.recipes import fit_recipe_head, label_prior, logit_adjusted, recipe_training_set
from tagger.config import RunConfig
from tagger.dataset import Dataset

log = logging.getLogger("tagger")


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


def candidate_recipes(cfg: RunConfig, unlabeled_share: float = 1.0, has_text_lfs: bool = False) -> list[dict]:
    """Training recipes: weak labels plus gold_dev at each weight and minimum confidence (each also
    with confident-learning pruning when ``select.prune_noisy``), gold_dev alone, and self-training
    variants (for weak recipes only when at least
    ``select.self_train_min_unlabeled`` of the pool has no weak label to pseudo-label), and with
    ``has_text_lfs`` each self-training recipe again per LF-vote bonus in ``select.lf_boosts``; each on every
    head feature set in ``select.features`` (``embedding+char`` only in frozen mode); and each of those
    at every prior correction in ``select.logit_adjust`` (``+adj1``: see ``models.recipes.logit_adjusted``;
    frozen mode only: a fine-tune would learn the prior back)."""
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
    taus = [t for t in dict.fromkeys(sel.logit_adjust) if em.mode == "frozen" or t == 0] or [0.0]
    return [{**r, "features": f, "name": r["name"] + ("+char" if f == "embedding+char" else "")
             + (f"+adj{t:g}" if t else ""), **({"logit_adjust": float(t)} if t else {})}
            for f in feats for r in out for t in taus]


def fit_key(recipe: dict) -> tuple:
    """What a recipe's head fit depends on: recipes that differ only in ``logit_adjust`` share one fit."""
    return tuple(sorted((k, v) for k, v in recipe.items() if k not in ("name", "logit_adjust")))


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


def prune_feature_set(feats: dict) -> str:
    """The feature set whose out-of-fold heads flag weak labels for every ``prune`` recipe, whichever
    features the recipe's own head uses: the richest in ``feats`` (``embedding+char`` when the grid has
    it). One set of flags per CV fold, and the same features in the final model, halve confident
    learning's head fits on a two-feature-set grid."""
    return "embedding+char" if "embedding+char" in feats else "embedding"


def prune_flags(recipe: dict, ds: Dataset, X: np.ndarray, proba: np.ndarray, mask: np.ndarray, head_kw: dict,
                folds: int, seed: int, max_rows: int | None = None) -> np.ndarray:
    """The weak labels the final model drops under a ``prune`` recipe: confident-learning flags over
    the covered pool (``X``: the pool's :func:`prune_feature_set` features), less gold_dev tickets when
    the recipe trains on gold_dev (they train on their
    gold label, never on the weak one, so they are neither dropped nor listed for review). The fold heads
    train on at most ``max_rows`` of them (``end_model.aux_sample``; see ``models.noise.out_of_fold_proba``)."""
    flagged = weak_label_flags(X, proba, mask, head_kw, folds, seed, max_rows)
    if recipe["dev_weight"] > 0:
        flagged &= ~ds.pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
    return flagged


def seen_dev_mask(cfg: RunConfig, ds: Dataset, specs: list[LFSpec], gate_mask: np.ndarray | None = None) -> np.ndarray:
    """gold_dev rows that an LF proposer or gate has seen: the refinement loop's gating half
    (``gate_mask``), the ``seen_dev_tickets.json`` that generated-LF folders carry, and every ticket an
    LF cites (``provenance.motivating_tickets``, exemplar ids). Recipe selection never scores them."""
    from labeling_functions.store import SEEN_FILE, read_seen

    ids: set[str] = set()
    for d in cfg.lfs.spec_dirs:
        if Path(d).is_dir():
            for f in Path(d).rglob(SEEN_FILE):
                ids |= read_seen(f.parent)
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
                  head_kw: dict, extra: list[LFSpec] = (), seen: np.ndarray | None = None,
                  show_progress: bool = True) -> dict:
    """K-fold cross-validation on gold_dev: per fold, LFs and the label model see only the training
    folds, held-out dev tickets are removed from the pool, and each recipe's head is scored
    (macro-F1) on the held-out fold. With ``select.holdout: unseen`` the ``seen`` rows (tickets an LF
    proposer or gate saw, see :func:`seen_dev_mask`) are never held out: they stay in every training
    fold, so no LF is scored on the tickets it was written or gated on. ``feats`` maps each feature
    set to its (pool, dev) matrices (see ``feature_sets``). Within a fold, the weak recipes' heads start
    from the fold's first weak head on the same features (convex losses: only the number of L-BFGS steps
    changes); no head starts from another fold's, which saw this fold's held-out tickets. gold_test plays
    no part."""
    from sklearn.metrics import f1_score

    y = labeler.y_dev
    if seen is None or cfg.end_model.select.holdout == "all":
        seen = np.zeros(len(y), dtype=bool)
    k, why = cv_folds(cfg.end_model.select.folds, int((~seen).sum()))
    if k < 2:
        chosen = default_recipe(cfg, recipes)
        log.warning("recipe CV skipped: %s; training the default recipe %s", why, chosen["name"])
        return {"folds": 0, "table": [], "chosen": chosen, "holdout": cfg.end_model.select.holdout,
                "scored_tickets": int((~seen).sum()), "never_scored_seen_tickets": int(seen.sum()),
                "note": f"no CV: {why}; the default recipe was trained", "per_tag_cv": []}
    if why:
        log.warning("recipe CV: %s", why)
    folds = holdout_folds(y, seen, k, cfg.seed)
    sel = cfg.end_model.select
    rows = sample_rows(len(ds.pool), sel.pool_sample, cfg.seed)
    if len(rows) < len(ds.pool):  # LFs' votes are the sample's, and each fold's label model fits on it alone
        labeler = labeler.subset(rows)
    pool = labeler.pool
    in_dev = pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
    scores = {r["name"]: [] for r in recipes}
    oof = {r["name"]: np.full(len(y), -1, dtype=np.int64) for r in recipes}  # out-of-fold predictions
    feats = {fs: (P[rows], D) for fs, (P, D) in feats.items()}  # the sample's rows, once for every fold and recipe
    alive = list(recipes)
    dropped: dict[str, int] = {}  # recipe -> the fold after which racing dropped it
    t0 = time.perf_counter()
    log.info("recipe CV: %d recipes x %d folds on %d unseen gold_dev tickets; heads train on %s pool tickets",
             len(recipes), k, int((~seen).sum()),
             f"{len(rows):,} of {len(ds.pool):,}" if len(rows) < len(ds.pool) else f"all {len(rows):,}")
    for f in range(k):
        tr, va = folds != f, folds == f
        wl = labeler(tr, extra_specs=extra)
        proba, mask = wl.proba, covered(wl.L)
        votes, dev_votes = tag_votes(wl.L, wl.specs, ds.tags), tag_votes(wl.L_dev, wl.specs, ds.tags)
        dev_tr = ds.gold_dev[tr]
        held_out = ds.gold_dev["ticket_id"][va]
        flags = None  # confident learning's flags, computed once per fold (on prune_feature_set's features)
        warm: dict[str, tuple] = {}  # per feature set, this fold's first weak head: where the other weak recipes start
        fits: dict[tuple, tuple] = {}  # fit_key -> (W, b, label prior): the +adj variants reuse their recipe's head
        for r in progress(alive, f"recipe CV fold {f + 1}/{k} (recipes)", enabled=show_progress):
            fs = r.get("features", "embedding")
            pool_X, dev_X = feats[fs]
            if fit_key(r) not in fits:
                if r.get("prune") and flags is None:
                    cand = mask & ~pool["ticket_id"].isin(held_out).to_numpy()
                    flags = weak_label_flags(feats[prune_feature_set(feats)][0], proba, cand, head_kw,
                                             sel.prune_folds, cfg.seed)
                keep, _, Y, w = recipe_training_set(r, pool, ds.tags, proba, mask, dev_tr,
                                                    cfg.end_model.min_confidence, exclude_ids=held_out,
                                                    flagged=flags if r.get("prune") else None)
                X = np.vstack([pool_X[keep], dev_X[tr]]) if r["dev_weight"] > 0 else pool_X[keep]
                unl = ~keep & ~in_dev
                W, b, _ = fit_recipe_head({**r, "logit_adjust": 0.0}, X, Y, w, pool_X[unl], head_kw, votes[unl],
                                          warm.get(fs) if r["weak"] else None)
                if r["weak"]:
                    warm.setdefault(fs, (W, b))
                fits[fit_key(r)] = W, b, label_prior(Y, w)
            W, b, prior = fits[fit_key(r)]
            b = logit_adjusted(b, prior, r.get("logit_adjust", 0.0))
            pred = lf_boosted(head_proba(dev_X[va], W, b), dev_votes[va], r.get("lf_boost", 0.0)).argmax(1)
            oof[r["name"]][va] = pred
            scores[r["name"]].append(float(f1_score(y[va], pred, average="macro",
                                                    labels=np.unique(y[va]), zero_division=0)))
        alive, out = race(alive, scores, f + 1, k, sel.drop_after, sel.drop_margin)
        dropped |= {r["name"]: f + 1 for r in out}
        took = time.perf_counter() - t0
        log.info("recipe CV: fold %d/%d done (%d recipes%s), %.0fs elapsed, about %.0fs left", f + 1, k,
                 len(alive) + len(out), f"; {len(out)} dropped, more than {sel.drop_margin:g} behind" if out else "",
                 took, took / (f + 1) * (k - f - 1) * len(alive) / max(1, len(alive) + len(out)))
    table = [{"recipe": r["name"], "cv_macro_f1_mean": float(np.mean(scores[r["name"]])),
              "cv_macro_f1_std": float(np.std(scores[r["name"]])), "folds": scores[r["name"]],
              **({"dropped_after_fold": dropped[r["name"]]} if r["name"] in dropped else {})} for r in recipes]
    chosen = max(alive, key=lambda r: float(np.mean(scores[r["name"]])))  # only recipes that ran every fold
    return {"folds": k, "table": table, "chosen": chosen, "holdout": cfg.end_model.select.holdout,
            "scored_tickets": int((~seen).sum()), "never_scored_seen_tickets": int(seen.sum()),
            "pool_sample": len(rows), "dropped_recipes": len(dropped),
            "per_tag_cv": per_tag_cv(y[~seen], oof[chosen["name"]][~seen], ds.tags), **({"note": why} if why else {})}


def race(alive: list[dict], scores: dict[str, list[float]], done: int, k: int, after: int,
         margin: float | None) -> tuple[list[dict], list[dict]]:
    """Racing (successive elimination): after ``done`` of ``k`` folds, from ``after`` on and before the
    last, the recipes whose mean over those folds trails the best mean by more than ``margin``.
    Every recipe has run the same folds, so the comparison is paired. Returns ``(kept, dropped)``."""
    if margin is None or done < after or done >= k or len(alive) < 2:
        return alive, []
    means = {r["name"]: float(np.mean(scores[r["name"]])) for r in alive}
    best = max(means.values())
    return ([r for r in alive if means[r["name"]] >= best - margin],
            [r for r in alive if means[r["name"]] < best - margin])


MIN_PER_FOLD = 2  # scored tickets a CV fold needs at the least for its macro-F1 to mean anything


def cv_folds(wanted: int, n_scored: int) -> tuple[int, str]:
    """The folds recipe CV can use with ``n_scored`` tickets to score, and why it uses fewer than
    ``wanted`` (empty when it does not): every fold scores at least ``MIN_PER_FOLD`` tickets; below two
    such folds there is no comparison to make (0 folds)."""
    k = min(wanted, n_scored // MIN_PER_FOLD)
    if k < 2:
        return 0, (f"only {n_scored} gold_dev tickets that no LF proposer or gate has seen, fewer than the "
                   f"{2 * MIN_PER_FOLD} two folds need (end_model.select.holdout: all scores every gold_dev ticket)")
    if k < wanted:
        return k, f"{k} folds instead of {wanted}: only {n_scored} gold_dev tickets to score"
    return k, ""


def default_recipe(cfg: RunConfig, recipes: list[dict]) -> dict:
    """The recipe trained when recipe CV cannot compare: weak labels plus gold_dev at
    ``end_model.gold_dev_weight``, self-trained when the grid self-trains, on the grid's first feature set."""
    sel = cfg.end_model.select
    want = f"weak+dev_w{cfg.end_model.gold_dev_weight:g}"
    names = [want + ("+self_train" if sel.self_train else ""), want]
    for name in names:
        for r in recipes:
            if r["name"].removesuffix("+char") == name and r["features"] == recipes[0]["features"]:
                return r
    return {"name": want, "weak": True, "dev_weight": cfg.end_model.gold_dev_weight, "self_train": 0,
            "features": recipes[0]["features"]}


def per_tag_cv(y: np.ndarray, pred: np.ndarray, tags: list[str]) -> list[dict]:
    """Per-tag precision, recall and F1 of out-of-fold predictions on gold_dev (the chosen recipe's): the
    per-tag numbers a run may be compared on without gold_test."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.arange(len(tags))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    return [{"tag": t, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, t in enumerate(tags) if s[i] > 0]
