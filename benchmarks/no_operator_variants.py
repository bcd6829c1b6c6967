"""Head-level variants of the no-operator recipe (gold_dev + self-training), cross-validated on the
same 5 gold_dev folds as `tagger run configs/banking77_no_operator.yaml` (gold_test is not read).
The README's "measured and not adopted" list for the no-operator config comes from this script.

    python benchmarks/no_operator_variants.py '{}' '{"dw": 5}' '{"bal": 1.0}' '{"knn": 0.5}'

Each argument is one variant (JSON); keys, all optional:
  dw     gold_dev weight against the pseudo-labels (1)    pw     pseudo-label weight (1)
  l2     head l2 (1e-5)                                   rounds self-training rounds (5)
  conf   pseudo-label confidence floor (0.5)              bal    class-balanced pseudo-labels: per round r of R,
  da     distribution alignment of the pseudo-labels             the top bal*r/R*|U|/C per predicted tag
  desc   weight of the tag names as one training text     knn    blend weight of a k-NN vote over the
                                                                 pseudo-labelled pool (k, T: 10, 0.05)
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.metrics import f1_score  # noqa: E402

from models.encoder import Encoder  # noqa: E402
from models.end_model import head_proba, train_head  # noqa: E402
from tagger.config import load_config  # noqa: E402
from tagger.pipeline import load_dataset, stratified_folds  # noqa: E402


def setup():
    cfg = load_config(ROOT / "configs" / "banking77_no_operator.yaml")
    ds, em = load_dataset(cfg), cfg.end_model
    enc = Encoder(max_length=em.max_length, batch_size=em.batch_size, cache_dir=cfg.cache_dir)
    ti = {t: i for i, t in enumerate(ds.tags)}
    y = np.array([ti[t] for t in ds.gold_dev["tag"]])
    in_dev = ds.pool["ticket_id"].isin(ds.gold_dev["ticket_id"]).to_numpy()
    return {"cfg": cfg, "ds": ds, "enc": enc, "y": y, "folds": stratified_folds(y, 5, cfg.seed), "in_dev": in_dev,
            "pool_emb": enc(ds.pool["text"].tolist()), "dev_emb": enc(ds.gold_dev["text"].tolist())}


def f1(y, pred):
    return f1_score(y, pred, average="macro", labels=np.unique(y), zero_division=0)


def run(v: dict, s: dict) -> list[float]:
    de, y, C = s["dev_emb"], s["y"], len(s["ds"].tags)
    U = s["pool_emb"][~s["in_dev"]]
    E = np.eye(C, dtype=np.float32)
    TE = s["enc"]([t.replace("_", " ") for t in s["ds"].tags]) if v.get("desc") else None
    l2 = v.get("l2", 1e-5)
    scores = []
    for f in range(5):
        tr, va = s["folds"] != f, s["folds"] == f
        X, Y = de[tr], E[y[tr]]
        w = np.full(len(X), v.get("dw", 1.0), np.float32)
        if TE is not None:
            X, Y, w = np.vstack([X, TE]), np.vstack([Y, E]), np.concatenate([w, np.full(C, v["desc"], np.float32)])
        W, b = train_head(X, Y, w, l2=l2)
        R = v.get("rounds", 5)
        for r in range(1, R + 1):
            P = head_proba(U, W, b)
            if v.get("da"):
                P = P / P.mean(0, keepdims=True)
                P /= P.sum(1, keepdims=True)
            pred, conf = P.argmax(1), P.max(1)
            if v.get("bal"):
                n = int(v["bal"] * r / R * len(U) / C)
                m = np.zeros(len(U), bool)
                for c in range(C):
                    idx = np.flatnonzero(pred == c)
                    m[idx[np.argsort(-conf[idx])][:n]] = True
            else:
                m = conf >= v.get("conf", 0.5)
            W, b = train_head(np.vstack([X, U[m]]), np.vstack([Y, E[pred][m]]),
                              np.concatenate([w, np.full(int(m.sum()), v.get("pw", 1.0), np.float32)]), l2=l2)
        Pv = head_proba(de[va], W, b)
        if v.get("knn"):
            lab = np.vstack([E[head_proba(U, W, b).argmax(1)], E[y[tr]]])
            S = de[va] @ np.vstack([U, de[tr]]).T
            k, T = v.get("k", 10), v.get("T", 0.05)
            nn = np.argpartition(-S, k, axis=1)[:, :k]
            Pk = np.stack([(lab[nn[i]] * np.exp(S[i, nn[i]] / T)[:, None]).sum(0) for i in range(len(nn))])
            Pv = (1 - v["knn"]) * Pv + v["knn"] * Pk / Pk.sum(1, keepdims=True)
        scores.append(f1(y[va], Pv.argmax(1)))
    return scores


def main():
    s = setup()
    for v in [json.loads(a) for a in sys.argv[1:] or ["{}"]]:
        t = time.perf_counter()
        sc = run(v, s)
        print(f"{json.dumps(v):50s} CV macro-F1 {np.mean(sc):.4f} (sd {np.std(sc):.4f})  {time.perf_counter() - t:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
