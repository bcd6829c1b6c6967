"""Frozen head vs LP-FT fine-tune, scored on a held-out half of gold_dev (never gold_test).

    python benchmarks/end_model_mode.py [--config configs/banking77.yaml] [--epochs 2] [--lr 3e-5]

Both end models are trained on the same recipe (weak labels with top probability >= 0.5 plus the
other half of gold_dev at weight 5, the recipe the Banking77 run chose before the lexical block
existed), on the embedding alone (the fine-tuned classifier reads the encoder only); the LFs and the
label model see only that half. Prints one table row per mode.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def main():
    from sklearn.metrics import f1_score

    from labeling_functions.label_model import covered
    from llm_rulegen.loop import split_dev
    from models.encoder import Encoder
    from models.end_model import ModelInfo, finetune, finetuned_model, head_proba, train_head
    from tagger.config import load_config
    from models.recipes import recipe_training_set
    from tagger.dataset import load_dataset, weak_labeler

    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs" / "banking77.yaml"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--dev-weight", type=float, default=5.0)
    ap.add_argument("--min-confidence", type=float, default=0.5)
    a = ap.parse_args()
    cfg = load_config(a.config)
    ds, em = load_dataset(cfg), cfg.end_model
    enc = Encoder(max_length=em.max_length, batch_size=em.batch_size, cache_dir=cfg.cache_dir)
    pool_emb, dev_emb = enc(ds.pool["text"].tolist()), enc(ds.gold_dev["text"].tolist())
    labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, enc)
    train = split_dev(ds.gold_dev["tag"].to_numpy(), cfg.seed + 1)
    held = ~train
    wl = labeler(train)
    recipe = {"weak": True, "dev_weight": a.dev_weight, "min_confidence": a.min_confidence}
    keep, texts, Y, w = recipe_training_set(recipe, ds.pool, ds.tags, wl.proba, covered(wl.L), ds.gold_dev[train], 0.0,
                                            exclude_ids=ds.gold_dev["ticket_id"][held])
    y = labeler.y_dev[held]
    t = time.perf_counter()
    W, b = train_head(np.vstack([pool_emb[keep], dev_emb[train]]), Y, w, l2=em.head.l2, max_iter=em.head.max_iter,
                      seed=cfg.seed)
    rows = [("frozen MiniLM + head", f1_score(y, head_proba(dev_emb[held], W, b).argmax(1), average="macro"),
             time.perf_counter() - t)]
    t = time.perf_counter()
    ft = em.finetune
    tok, clf = finetune(texts, Y, w, W, b, max_length=em.max_length, epochs=a.epochs, lr=a.lr, batch_size=ft.batch_size,
                        warmup_ratio=ft.warmup_ratio, weight_decay=ft.weight_decay, seed=cfg.seed, progress=False)
    model = finetuned_model(ModelInfo(tags=ds.tags, mode="finetune", max_length=em.max_length), tok, clf)
    P = model.predict_proba(ds.gold_dev["text"][held].tolist())
    rows.append((f"LP-FT, {a.epochs} epochs, lr {a.lr:g}", f1_score(y, P.argmax(1), average="macro"),
                 time.perf_counter() - t))
    print(f"{len(texts):,} training tickets, {int(held.sum())} held-out gold_dev tickets\n")
    print("| end model | held-out gold_dev macro-F1 | train seconds |\n|---|---|---|")
    for name, f1, secs in rows:
        print(f"| {name} | {f1:.4f} | {secs:.0f} |")


if __name__ == "__main__":
    main()
