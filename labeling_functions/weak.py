"""The weak labeler: LFs applied to the pool and gold_dev, aggregated by the label model.

:class:`WeakLabeler` applies the LFs that do not depend on gold_dev once; each call adds the
exemplar LFs built from the given gold_dev rows and any extra (generated) LFs, and fits the label
model with dev-precision seeds from those rows only, so a cross-validation fold or the refinement
loop's gating half never leaks into the votes it is scored on.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from labeling_functions.analysis import lf_summary
from labeling_functions.apply import Reference, apply_lfs, compile_lfs
from labeling_functions.builders import exemplar_lfs
from labeling_functions.label_model import (SourceLabelModel, collapse_families, estimate_prior,
                                            family_dev_precision, majority_vote_proba)
from labeling_functions.settings import ExemplarLFConfig, LabelModelConfig
from labeling_functions.spec import LFSpec, check_unique


@dataclass
class WeakLabels:
    """One weak labelling: the LFs, their votes on the pool (``L``) and gold_dev (``L_dev``), the
    label model's and majority vote's distributions on both, and the per-LF statistics."""
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


def spec_key(s: LFSpec) -> str:
    """What an LF's votes depend on: its tag, kind and parameters (not its id, status or history)."""
    return json.dumps({"tag": s.tag, "kind": s.kind, "params": s.params.model_dump(mode="json")}, sort_keys=True)


class WeakLabeler:
    """Builds LFs, applies them and fits the label model, for all of gold_dev or a part of it.

    ``fixed`` are the LFs that do not depend on gold_dev (operator tags, neighbours, the store's
    LFs); ``encoder`` embeds the text of exemplar LFs; ``reference``: what neighbour LFs look up (default:
    the whole pool). Calling the labeler with a boolean mask over
    gold_dev returns :class:`WeakLabels` built from those rows alone.
    """

    def __init__(self, tags: list[str], pool: pd.DataFrame, gold_dev: pd.DataFrame, pool_emb: np.ndarray,
                 dev_emb: np.ndarray, encoder, fixed: list[LFSpec], exemplar: ExemplarLFConfig = ExemplarLFConfig(),
                 label_model: LabelModelConfig = LabelModelConfig(), reference: Reference | None = None):
        self.tags, self.pool, self.gold_dev = tags, pool, gold_dev
        self.pool_emb, self.dev_emb, self.encoder = pool_emb, dev_emb, encoder
        self.exemplar, self.label_model = exemplar, label_model
        self.tag_index = {x: i for i, x in enumerate(tags)}
        self.y_dev = gold_dev["tag"].map(self.tag_index).to_numpy()
        self.fixed = list(fixed)
        check_unique(self.fixed)
        self.reference = reference if reference is not None else Reference(pool, pool_emb)
        compiled = compile_lfs(self.fixed, tags, embed=encoder, reference=self.reference)
        self.L_fixed = apply_lfs(pool, compiled, pool_emb)
        self.L_fixed_dev = apply_lfs(gold_dev, compiled, dev_emb)
        self.prior = (estimate_prior(pool["operator_tag"].dropna(), tags) if label_model.class_prior == "operator_tags"
                      else None)  # None: uniform
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def subset(self, rows: np.ndarray) -> "WeakLabeler":
        """The same labeler over the pool ``rows`` alone (recipe CV's pool sample): its LF votes are
        the rows' own, taken from this labeler, nothing is re-applied, and the label model fits on those
        rows. The neighbour reference and the operator-tag prior stay the whole pool's."""
        sub = copy.copy(self)
        sub.pool, sub.pool_emb = self.pool.iloc[rows].reset_index(drop=True), self.pool_emb[rows]
        sub.L_fixed = self.L_fixed[rows]
        sub._cache = {k: (p[rows], d) for k, (p, d) in self._cache.items()}
        return sub

    def apply(self, specs: list[LFSpec]) -> tuple[np.ndarray, np.ndarray]:
        """Pool and dev votes of ``specs``; an LF whose spec did not change is never re-applied."""
        n, nd = len(self.pool), len(self.gold_dev)
        todo = [s for s in specs if spec_key(s) not in self._cache]
        if todo:
            comp = compile_lfs(todo, self.tags, embed=self.encoder, reference=self.reference)
            Lp = apply_lfs(self.pool, comp, self.pool_emb)
            Ld = apply_lfs(self.gold_dev, comp, self.dev_emb)
            for j, s in enumerate(todo):
                self._cache[spec_key(s)] = (Lp[:, j], Ld[:, j])
        if not specs:
            return np.empty((n, 0), dtype=np.int16), np.empty((nd, 0), dtype=np.int16)
        cols = [self._cache[spec_key(s)] for s in specs]
        return np.stack([c[0] for c in cols], 1), np.stack([c[1] for c in cols], 1)

    def __call__(self, dev_train: np.ndarray, extra_specs: list[LFSpec] = ()) -> WeakLabels:
        n_tags = len(self.tags)
        specs, thresholds = list(self.fixed), pd.DataFrame()
        if self.exemplar.enabled:
            e = self.exemplar
            ex, thresholds = exemplar_lfs(self.gold_dev[dev_train], self.dev_emb[dev_train], self.tags, e.thresholds,
                                          e.min_precision, e.min_support)
            specs += ex
        specs += list(extra_specs)
        check_unique(specs)
        Lx, Lx_dev = self.apply(specs[len(self.fixed):])
        L, L_dev = np.hstack([self.L_fixed, Lx]), np.hstack([self.L_fixed_dev, Lx_dev])
        yd, Ld = self.y_dev[dev_train], L_dev[dev_train]
        summary = lf_summary(L, specs, self.tags, Y=yd, L_dev=Ld)
        families = [sp.family for sp in specs]
        lf_prec = summary["dev_precision"].fillna(0.5).to_numpy()  # no dev hit: a coin flip
        Lf, fam_names = collapse_families(L, families, n_tags, lf_prec)
        Lf_dev, _ = collapse_families(L_dev, families, n_tags, lf_prec)
        # majority vote: snorkel's MajorityLabelVoter over the same family voters
        mv, dev_mv = majority_vote_proba(Lf, n_tags), majority_vote_proba(Lf_dev, n_tags)
        lm_cfg = self.label_model
        if lm_cfg.kind == "snorkel":
            prec_init = np.clip(family_dev_precision(Lf_dev[dev_train], yd), *lm_cfg.seed_precision_bounds)
            lm = SourceLabelModel(n_tags, n_epochs=lm_cfg.n_epochs, lr=lm_cfg.lr, l2=lm_cfg.l2,
                                  blas_threads=lm_cfg.blas_threads, seed=lm_cfg.seed) \
                .fit(L, families, self.prior, lf_weight=lf_prec, prec_init=prec_init)
            proba, dev_lm, fit_s, method = lm.predict_proba(L), lm.predict_proba(L_dev), lm.fit_seconds_, lm.method_
        else:
            proba, dev_lm, fit_s, method = mv, dev_mv, 0.0, "majority_vote"
        return WeakLabels(specs, L, L_dev, summary, thresholds, proba, mv, dev_lm, dev_mv, method, fam_names, fit_s)
