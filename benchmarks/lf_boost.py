"""How the final model can use good LFs: recipe variants cross-validated on the gold_dev tickets that no
proposer or gate has seen (the honest selection of `tagger run`), gold_test unread.

    python benchmarks/lf_boost.py CONFIG RUN_DIR '{"alpha": 0}' '{"alpha": 2}' '{"weak": 0.5, "dw": 5}'

RUN_DIR is a `tagger refine` run (its refine/best_lfs.yaml and refine/seen_dev_tickets.json). Each
variant (JSON; keys optional):
  alpha  LF-vote logit bonus in the self-training predictions and at prediction (0)
  weak   train on weak labels with at least this confidence (off: gold_dev only)
  dw     gold_dev weight (1)              rounds  self-training rounds (5)
The bonus counts the keyword / regex LFs only: the ones a trained model can carry to new tickets.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.metrics import f1_score  # noqa: E402

from labeling_functions.label_model import covered  # noqa: E402
from labeling_functions.spec import load_specs  # noqa: E402
from labeling_functions.votes import tag_votes  # noqa: E402
from models.encoder import Encoder  # noqa: E402
from models.end_model import head_proba  # noqa: E402
from tagger.config import load_config  # noqa: E402
from models.end_model import lf_boosted  # noqa: E402
from models.recipes import fit_recipe_head, recipe_training_set  # noqa: E402
from tagger.dataset import load_dataset, weak_labeler  # noqa: E402
from tagger.select import holdout_folds, seen_dev_mask  # noqa: E402


def main(config: str, run_dir: str, variants: list[dict]) -> None:
    cfg = load_config(config)
    ds, em = load_dataset(cfg), cfg.end_model
    enc = Encoder(max_length=em.max_length, batch_size=em.batch_size, cache_dir=cfg.cache_dir, progress=False)
    pool_emb, dev_emb = enc(ds.pool["text"].tolist()), enc(ds.gold_dev["text"].tolist())
    extra = [s for s in load_specs(Path(run_dir) / "refine" / "best_lfs.yaml") if s.status == "active"]
    labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, enc)
    cfg.lfs.spec_dirs = [str(Path(run_dir) / "refine")]  # where the loop recorded the tickets it saw
    seen = seen_dev_mask(cfg, ds, extra)
    y = labeler.y_dev
    folds = holdout_folds(y, seen, em.select.folds, cfg.seed)
    head_kw = {"l2": em.head.l2, "max_iter": em.head.max_iter, "seed": cfg.seed}
    in_dev = ds.pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
    print(f"{len(extra)} generated LFs; {int((~seen).sum())} scored dev tickets, {int(seen.sum())} seen", flush=True)
    scores = {json.dumps(v): [] for v in variants}
    t0 = time.perf_counter()
    for f in range(em.select.folds):
        tr, va = folds != f, folds == f
        wl = labeler(tr, extra_specs=extra)
        held = ds.gold_dev["ticket_id"][va]
        for v in variants:
            V, Vd = tag_votes(wl.L, wl.specs, ds.tags), tag_votes(wl.L_dev, wl.specs, ds.tags)
            recipe = {"name": "x", "weak": "weak" in v, "dev_weight": float(v.get("dw", 1.0)),
                      "self_train": int(v.get("rounds", 5)), "self_train_min_confidence": 0.5,
                      "self_train_labels": "hard", "lf_boost": float(v.get("alpha", 0.0)),
                      "min_confidence": float(v.get("weak", 0.0))}
            keep, _, Y, w = recipe_training_set(recipe, ds.pool, ds.tags, wl.proba, covered(wl.L), ds.gold_dev[tr], 0.0,
                                                exclude_ids=held)
            X = np.vstack([pool_emb[keep], dev_emb[tr]])
            unl = ~keep & ~in_dev
            W, b, _ = fit_recipe_head(recipe, X, Y, w, pool_emb[unl], head_kw, V[unl])
            P = lf_boosted(head_proba(dev_emb[va], W, b), Vd[va], recipe["lf_boost"])
            scores[json.dumps(v)].append(f1_score(y[va], P.argmax(1), average="macro", labels=np.unique(y[va]),
                                                  zero_division=0))
        print(f"fold {f + 1}/{em.select.folds} done, {time.perf_counter() - t0:.0f}s", flush=True)
    print("| variant | CV macro-F1 (unseen dev) | std |\n|---|---|---|")
    for k, v in scores.items():
        print(f"| {k} | {np.mean(v):.4f} | {np.std(v):.4f} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [json.loads(a) for a in sys.argv[3:]] or [{}])
