"""Encoder-tuning variants of the no-operator recipe (gold_dev + self-training), per gold_dev fold
of `configs/banking77_no_operator.yaml` (gold_test is not read). Slow: about 5 minutes per fold on
2 cores. The README's noisy-student and SetFit-style numbers come from this script.

    python benchmarks/no_operator_encoder_tuning.py noisy-student --folds 0,1
    python benchmarks/no_operator_encoder_tuning.py setfit --folds 0,1,2,3
    python benchmarks/no_operator_encoder_tuning.py simcse

noisy-student: the self-trained head's pseudo-labels (confidence >= 0.5) plus the gold_dev training
  fold fine-tune the encoder from that head (2 epochs, lr 3e-5); scored as a classifier, and
  re-embedded with a new self-trained head.
setfit: cosine-similarity contrastive tuning of the encoder on gold_dev pairs (per ticket and pass
  one positive and one negative pair; 5 passes, lr 2e-5, batches of 16); scored with a self-trained
  head on the tuned embedding alone and appended to the frozen one.
simcse: unsupervised SimCSE on the whole pool, no labels, so it is tuned once for all folds (two
  dropout views of a ticket are positives, the batch's other tickets negatives; 1 epoch, lr 1e-5,
  temperature 0.05, batches of 64); scored like setfit.
Each line also prints the baseline (frozen encoder, gold_dev + self-training) on the same fold.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from models.encoder import embed_texts, load_encoder, mean_pool  # noqa: E402
from models.end_model import finetune, head_proba  # noqa: E402
from models.recipes import fit_recipe_head  # noqa: E402
from no_operator_variants import f1, setup  # noqa: E402


def self_train(X, Y, U, rounds=5):
    """The pipeline's self-training (models.recipes.fit_recipe_head, hard labels, confidence 0.5);
    returns the head and its probabilities on ``U`` before the last retraining."""
    recipe = {"self_train": rounds, "self_train_min_confidence": 0.5, "self_train_labels": "hard"}
    before = {"self_train": rounds - 1, "self_train_min_confidence": 0.5, "self_train_labels": "hard"}
    kw = {"l2": 1e-5, "max_iter": 500, "seed": 0}
    W0, b0, _ = fit_recipe_head(before, X, Y, np.ones(len(X), np.float32), U, kw)
    W, b, _ = fit_recipe_head(recipe, X, Y, np.ones(len(X), np.float32), U, kw)
    return W, b, head_proba(U, W0, b0)


def contrastive(texts, labels, passes, lr, max_length, seed=0, bs=16):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok, model = load_encoder(None)
    model.train()
    pairs = []
    for _ in range(passes):
        for i, c in enumerate(labels):
            pairs.append((i, rng.choice(np.flatnonzero(labels == c)), 1.0))
            pairs.append((i, rng.choice(np.flatnonzero(labels != c)), 0.0))
    rng.shuffle(pairs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    nb = -(-len(pairs) // bs)
    warm = max(1, nb // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (nb - s) / max(1, nb - warm))))

    def emb(idx):
        x = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return mean_pool(model(**x).last_hidden_state, x["attention_mask"])

    for s in range(nb):
        batch = pairs[s * bs:(s + 1) * bs]
        cos = torch.nn.functional.cosine_similarity(emb([p[0] for p in batch]), emb([p[1] for p in batch]))
        loss = ((cos - torch.tensor([p[2] for p in batch])) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return tok, model


def simcse(texts, lr=1e-5, epochs=1, temperature=0.05, bs=64, max_length=64, seed=0):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok, model = load_encoder(None)
    model.train()  # dropout on: the two passes over a batch are the two views
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    for _ in range(epochs):
        order = rng.permutation(len(texts))
        for i in range(0, len(order), bs):
            x = tok([texts[j] for j in order[i:i + bs]], truncation=True, max_length=max_length, padding=True,
                    return_tensors="pt")
            z1, z2 = (torch.nn.functional.normalize(mean_pool(model(**x).last_hidden_state, x["attention_mask"]), dim=-1)
                      for _ in range(2))
            loss = torch.nn.functional.cross_entropy(z1 @ z2.T / temperature, torch.arange(len(z1)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return tok, model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["noisy-student", "setfit", "simcse"])
    ap.add_argument("--folds", default="0,1,2,3,4")
    a = ap.parse_args()
    import torch

    s = setup()
    ds, y, de = s["ds"], s["y"], s["dev_emb"]
    ml = s["cfg"].end_model.max_length
    U = s["pool_emb"][~s["in_dev"]]
    u_texts = ds.pool["text"][~s["in_dev"]].tolist()
    d_texts = ds.gold_dev["text"].tolist()
    E = np.eye(len(ds.tags), dtype=np.float32)
    if a.mode == "simcse":
        t0 = time.perf_counter()
        tok, enc = simcse(ds.pool["text"].tolist())
        with torch.no_grad():
            d2, u2 = embed_texts(d_texts, tok, enc, ml), embed_texts(u_texts, tok, enc, ml)
        print(json.dumps({"simcse_seconds": round(time.perf_counter() - t0)}), flush=True)
    for f in [int(x) for x in a.folds.split(",")]:
        t0 = time.perf_counter()
        tr, va = s["folds"] != f, s["folds"] == f
        W, b, P = self_train(de[tr], E[y[tr]], U)
        out = {"fold": f, "baseline": round(f1(y[va], head_proba(de[va], W, b).argmax(1)), 4)}
        if a.mode == "noisy-student":
            m = P.max(1) >= 0.5
            texts = [d_texts[i] for i in np.flatnonzero(tr)] + [u_texts[i] for i in np.flatnonzero(m)]
            tok, clf = finetune(texts, np.vstack([E[y[tr]], E[P.argmax(1)][m]]), None, W, b, max_length=ml,
                                epochs=2, lr=3e-5, batch_size=32, seed=0, progress=False)
            enc = clf.encoder
        elif a.mode == "setfit":
            tok, enc = contrastive([d_texts[i] for i in np.flatnonzero(tr)], y[tr], 5, 2e-5, ml)
        if a.mode != "simcse":
            with torch.no_grad():
                d2, u2 = embed_texts(d_texts, tok, enc, ml), embed_texts(u_texts, tok, enc, ml)
        W2, b2, _ = self_train(d2[tr], E[y[tr]], u2)
        out["tuned_self_train"] = round(f1(y[va], head_proba(d2[va], W2, b2).argmax(1)), 4)
        if a.mode == "noisy-student":
            Wc, bc = clf.head.weight.detach().numpy(), clf.head.bias.detach().numpy()
            out["tuned_classifier"] = round(f1(y[va], head_proba(d2[va], Wc, bc).argmax(1)), 4)
        else:
            W3, b3, _ = self_train(np.hstack([de, d2])[tr], E[y[tr]], np.hstack([U, u2]))
            out["frozen_plus_tuned_self_train"] = round(f1(y[va], head_proba(np.hstack([de, d2])[va], W3, b3).argmax(1)), 4)
        out["seconds"] = round(time.perf_counter() - t0)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
