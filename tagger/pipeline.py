"""The main job: ingest -> LFs -> label model -> end model -> evaluation, as a short list of steps.

``run_pipeline(cfg)`` writes a run directory:

- ``model/``                 the self-contained tagger (``tagger tag`` loads it)
- ``metrics.json``           gold_test scores of the model and the baselines, label-model stats, timings
- ``summary.md``, ``report.html``  the readable tables and the analyst's report
- ``per_tag.csv``, ``per_tag_cv.csv``, ``confusion.csv``, ``lf_summary.csv``, ``exemplar_thresholds.csv``
- ``lfs.yaml``               every LF spec that fed the label model
- ``quarantine.csv``         rejected input rows with reasons
- ``train_labels.parquet``   the probabilistic training labels

The steps live in their own modules: ``tagger/dataset.py`` (ingest), ``labeling_functions/weak.py``
(LFs and label model), ``tagger/refine.py`` (the refinement loop), ``tagger/select.py`` (recipe CV),
``models/recipes.py`` and ``models/noise.py`` (training), ``tagger/scoring.py`` (baselines and the
final scoring, the only reader of gold_test) and ``tagger/outputs.py``.
"""
from __future__ import annotations

import json
import logging
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.atomic import atomic_write_text
from data.io import quarantine_summary, write_table
from labeling_functions.analysis import label_matrix_summary
from labeling_functions.label_model import covered
from labeling_functions.spec import LFSpec, dump_specs
from labeling_functions.votes import tag_votes, text_lfs
from labeling_functions.weak import WeakLabeler, WeakLabels
from models.encoder import Encoder
from models.end_model import ModelInfo, finetune, finetuned_model, frozen_model, head_proba, lf_boosted
from models.evaluate import per_tag_frame, plot_results
from models.recipes import fit_recipe_head, pseudo_labels, recipe_training_set
from tagger.config import RunConfig
from tagger.dataset import Dataset, load_dataset, weak_labeler
from tagger.outputs import write_json, write_label_issues, write_lf_examples, write_summary
from tagger.scoring import score_on_gold_test, train_baselines
from tagger.select import (candidate_recipes, feature_sets, fit_lexical, prune_feature_set, prune_flags, seen_dev_mask,
                           select_recipe)

log = logging.getLogger("tagger")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Laps:
    """Per-step wall time, logged as each step ends."""

    def __init__(self):
        self.t_start = self.t = time.perf_counter()
        self.timings: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self.t, 3)
        log.info("%-14s %.1fs", name, self.timings[name])
        self.t = now

    def total(self) -> dict[str, float]:
        return {**self.timings, "total": round(time.perf_counter() - self.t_start, 3)}


def head_settings(cfg: RunConfig) -> dict:
    return {"l2": cfg.end_model.head.l2, "max_iter": cfg.end_model.head.max_iter, "seed": cfg.seed}


def make_encoder(cfg: RunConfig, progress: bool = False) -> Encoder:
    """The run's encoder (``end_model.encoder``: the packaged MiniLM or a local directory), cached on disk."""
    em = cfg.end_model
    return Encoder(em.encoder.path, max_length=em.max_length, batch_size=em.batch_size, cache_dir=cfg.cache_dir,
                   progress=progress, pooling=em.encoder.pooling, precision=em.encoder.precision,
                   runtime=em.encoder.runtime)


def warn_english_encoder(cfg: RunConfig, ds: Dataset) -> None:
    """Say plainly when tickets are not in English but the encoder is the packaged, English, MiniLM."""
    if cfg.end_model.encoder.path:
        return
    text = "".join(ds.pool["text"].head(500))
    letters = sum(c.isalpha() for c in text)
    latin = sum(c.isascii() and c.isalpha() for c in text)
    language = cfg.dataset.language
    if language.lower() in ("english", "en") and (not letters or latin / letters > 0.5):
        return
    what = language if language.lower() not in ("english", "en") else "mostly non-Latin"
    log.warning("the tickets are %s, but the encoder is the packaged MiniLM-L6, an English model; set "
                "end_model.encoder.path to a local encoder directory for that language (README: 'Tickets in "
                "another language')", what)
    ds.ingest_report["encoder_warning"] = "non-English tickets with the English MiniLM-L6 encoder"


def refine_step(cfg: RunConfig, ds: Dataset, labeler: WeakLabeler, pool_emb, dev_emb, run_dir: Path):
    """The refinement loop when enabled: ``(generated LFs the run uses, refinement record, gate mask)``."""
    if not cfg.refine.enabled:
        return [], None, None
    from tagger.refine import refine

    res = refine(cfg, ds, labeler, pool_emb, dev_emb, run_dir / "refine")
    kept = res.best_lfs if cfg.refine.keep_round == "best" else res.all_lfs
    extra = [s for s in kept if s.status in cfg.lfs.statuses]
    record = {"best_round": res.best_round, "kept_round": cfg.refine.keep_round, "stop_reason": res.stop_reason,
              "rounds": res.rounds, "split": res.split, "generated_lfs": len(res.all_lfs), "used_lfs": len(extra),
              "rejected": len(res.rejected)}
    return extra, record, res.gate_mask


def choose_recipe(cfg: RunConfig, ds: Dataset, labeler: WeakLabeler, wl: WeakLabels, extra: list[LFSpec],
                  gate_mask, pool_emb, dev_emb, head_kw: dict, progress: bool = True):
    """Candidate recipes, their feature sets, and the one recipe CV on gold_dev picks:
    ``(recipe, selection record or None, feature sets, lexical block or None)``."""
    recipes = candidate_recipes(cfg, unlabeled_share=float(1 - covered(wl.L).mean()),
                                has_text_lfs=bool(text_lfs(wl.specs)))
    # the lexical block is fitted on pool text only (no labels), so every CV fold may share it
    lexical = fit_lexical(cfg, ds.pool["text"]) if any(r["features"] == "embedding+char" for r in recipes) else None
    feats = feature_sets(recipes, ds, pool_emb, dev_emb, lexical)
    if len(recipes) == 1:
        return recipes[0], None, feats, lexical
    # the loop's gating half counts as seen only when some LF it generated reaches this run
    seen = seen_dev_mask(cfg, ds, labeler.fixed + extra, gate_mask if extra else None)
    selection = select_recipe(cfg, ds, labeler, feats, recipes, head_kw, extra, seen, show_progress=progress)
    log.info("recipe chosen by %d-fold CV on gold_dev: %s", cfg.end_model.select.folds, selection["chosen"])
    return selection["chosen"], selection, feats, lexical


def label_model_stats(cfg: RunConfig, wl: WeakLabels, y_dev: np.ndarray) -> dict:
    dev_cov = covered(wl.L_dev)

    def dev_acc(P):
        return float((P[dev_cov].argmax(1) == y_dev[dev_cov]).mean()) if dev_cov.any() else float("nan")

    return {
        "kind": cfg.label_model.kind, "method": wl.method, "families": wl.families,
        "fit_seconds": round(wl.fit_seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1), "n_lfs": len(wl.specs),
        **label_matrix_summary(wl.L), "gold_dev_coverage": float(dev_cov.mean()),
        "gold_dev_accuracy_label_model": dev_acc(wl.dev_lm), "gold_dev_accuracy_majority_vote": dev_acc(wl.dev_mv),
        "note": "gold_dev accuracy of the argmax label on covered dev tickets; exemplar LFs are leave-one-out "
                "and the label model's seeds use gold_dev, so this is optimistic",
    }


@dataclass
class Trained:
    model: object
    training: dict


def train_final(cfg: RunConfig, ds: Dataset, wl: WeakLabels, recipe: dict, feats: dict, lexical, head_kw: dict,
                run_dir: Path, progress: bool) -> Trained:
    """Train the chosen recipe on all of gold_dev; writes ``train_labels.parquet`` and, when the recipe
    prunes, ``label_issues.csv``."""
    em = cfg.end_model
    pool_X, dev_X = feats[recipe["features"]]
    mask = covered(wl.L)
    flagged = None
    if recipe.get("prune"):
        flagged = prune_flags(recipe, ds, feats[prune_feature_set(feats)][0], wl.proba, mask, head_kw,
                              em.select.prune_folds, cfg.seed, em.aux_sample)
        log.info("confident learning flagged %d of %d weak labels as likely wrong", flagged.sum(), mask.sum())
    keep, texts, Y, w = recipe_training_set(recipe, ds.pool, ds.tags, wl.proba, mask, ds.gold_dev, em.min_confidence,
                                            flagged=flagged)
    with_dev = recipe["dev_weight"] > 0
    X = np.vstack([pool_X[keep], dev_X]) if with_dev else pool_X[keep]
    write_table(pd.DataFrame({"ticket_id": list(ds.pool["ticket_id"][keep]) +
                              (ds.gold_dev["ticket_id"].tolist() if with_dev else []),
                              "label": [ds.tags[i] for i in Y.argmax(1)], "confidence": Y.max(1), "weight": w}),
                run_dir / "train_labels.parquet")
    unl = ~keep & ~ds.pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
    boost = recipe.get("lf_boost", 0.0)
    votes_unl = tag_votes(wl.L, wl.specs, ds.tags)[unl]
    W, b, pseudo = fit_recipe_head(recipe, X, Y, w, pool_X[unl], head_kw, votes_unl)
    if flagged is not None:
        write_label_issues(run_dir / "label_issues.csv", ds, wl.proba, flagged, head_proba(pool_X[flagged], W, b))
    if pseudo.any():  # the fine-tune sees the same pseudo-labelled tickets as the head
        P_unl = pseudo_labels(lf_boosted(head_proba(pool_X[unl][pseudo], W, b), votes_unl[pseudo], boost), recipe)
        texts += ds.pool["text"].to_numpy()[unl][pseudo].tolist()
        Y, w = np.vstack([Y, P_unl]), np.concatenate([w, np.ones(len(P_unl), dtype=np.float32)])
    info = ModelInfo(tags=ds.tags, mode=em.mode, max_length=em.max_length, mask_pii=cfg.ingest.mask_pii,
                     speakers=list(cfg.ingest.speakers), max_chars=cfg.ingest.max_chars, run_name=run_dir.name,
                     features=recipe["features"], lf_boost=boost,
                     encoder=em.encoder.path or ModelInfo.encoder, pooling=em.encoder.pooling)
    rules = text_lfs(wl.specs) if boost else []  # the LFs the model applies to new tickets
    if em.mode == "finetune":
        ft = em.finetune
        tok, clf = finetune(texts, Y, w, W, b, max_length=em.max_length, epochs=ft.epochs, lr=ft.lr,
                            batch_size=ft.batch_size, warmup_ratio=ft.warmup_ratio, weight_decay=ft.weight_decay,
                            seed=cfg.seed, progress=progress, encoder_path=em.encoder.path,
                            pooling=em.encoder.pooling)
        model = finetuned_model(info, tok, clf, rules)
    else:
        model = frozen_model(info, W, b, lexical if recipe["features"] == "embedding+char" else None, rules,
                             encoder_dir=em.encoder.path)
    training = {"tickets": int(len(Y)), "pseudo_labelled": int(pseudo.sum()), "pool_covered": int(mask.sum()),
                "pool_total": int(len(ds.pool)), "weak_labels_pruned": None if flagged is None else int(flagged.sum()),
                "recipe": recipe, "mode": em.mode}
    return Trained(model, training)


def run_pipeline(cfg: RunConfig, run_dir: Path | None = None, progress: bool = True) -> Path:
    run_dir = run_dir or Path(cfg.output_dir) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        _run(cfg, run_dir, progress)
    except BaseException as e:
        if created and not any(run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)  # a failed run leaves no empty folder behind
        elif run_dir.exists():  # what it wrote (the quarantine first) stays, with the reason it stopped
            atomic_write_text(run_dir / "error.txt", f"{type(e).__name__}: {e}\n")
        raise
    return run_dir


def _run(cfg: RunConfig, run_dir: Path, progress: bool) -> None:
    np.random.seed(cfg.seed)
    lap = Laps()
    ds = load_dataset(cfg)
    write_table(ds.quarantine, run_dir / "quarantine.csv")
    log.info("ingest: %s", json.dumps(ds.ingest_report))
    lap("ingest")

    warn_english_encoder(cfg, ds)
    encoder = make_encoder(cfg, progress)
    pool_emb, dev_emb = encoder(ds.pool["text"].tolist()), encoder(ds.gold_dev["text"].tolist())
    lap("embed")

    labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, encoder)
    lap("fixed_lfs")
    extra, refinement, gate_mask = refine_step(cfg, ds, labeler, pool_emb, dev_emb, run_dir)
    if refinement:
        lap("refine")

    head_kw = head_settings(cfg)
    wl = labeler(np.ones(len(ds.gold_dev), dtype=bool), extra_specs=extra)
    recipe, selection, feats, lexical = choose_recipe(cfg, ds, labeler, wl, extra, gate_mask, pool_emb, dev_emb,
                                                      head_kw, progress)
    lap("select")

    dump_specs(wl.specs, run_dir / "lfs.yaml")
    write_table(wl.thresholds, run_dir / "exemplar_thresholds.csv")
    write_table(wl.summary, run_dir / "lf_summary.csv")
    label_stats = label_model_stats(cfg, wl, labeler.y_dev)
    log.info("label model: %s", json.dumps(label_stats))
    lap("label_model")

    trained = train_final(cfg, ds, wl, recipe, feats, lexical, head_kw, run_dir, progress)
    lap("end_model")
    baselines = train_baselines(cfg, ds, pool_emb, dev_emb, wl.mv, covered(wl.L), head_kw)
    lap("baselines")

    results, q_test = score_on_gold_test(cfg, ds, trained.model, encoder, baselines, progress)  # reads gold_test
    lap("evaluate")
    quarantine = pd.concat([ds.quarantine, q_test], ignore_index=True) if len(q_test) else ds.quarantine
    if len(q_test):
        write_table(quarantine, run_dir / "quarantine.csv")
    ingest = {**ds.ingest_report, "quarantined": int(len(quarantine)),
              "quarantine_reasons": quarantine_summary(quarantine)}

    trained.model.save(run_dir / "model")
    lap("save")
    metrics = {
        "run": run_dir.name, "config": cfg.config_path, "dataset": {
            "pool": str(cfg.dataset.pool) if isinstance(cfg.dataset.pool, str) else cfg.dataset.pool.url,
            "use_operator_tags": cfg.dataset.use_operator_tags, "tags": len(ds.tags)},
        "ingest": ingest, "label_model": label_stats, "training": trained.training,
        "selection": selection, "refinement": refinement,
        "test": {k: {kk: vv for kk, vv in v.items() if kk != "confusion_matrix"} for k, v in results.items()},
        "timings_s": lap.total(), "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    write_json(run_dir / "metrics.json", metrics)
    write_table(per_tag_frame(results), run_dir / "per_tag.csv")
    if selection and selection.get("per_tag_cv"):
        write_table(pd.DataFrame(selection["per_tag_cv"]), run_dir / "per_tag_cv.csv")
    write_table(pd.DataFrame(results["model"]["confusion_matrix"], index=ds.tags, columns=ds.tags)
                .rename_axis("true").reset_index(), run_dir / "confusion.csv")
    plot_results(results, ds.tags, run_dir)
    write_summary(run_dir, metrics, results)
    write_lf_examples(run_dir, wl.specs, wl.L, wl.L_dev, ds)
    from tagger.report import write_report

    write_report(run_dir)
