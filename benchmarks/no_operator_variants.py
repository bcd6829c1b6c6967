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
  white  "center" or "white": embeddings centred (and      cw     pseudo-labels weighted by
         PCA-whitened, eps) on pool statistics, renormed         (mean count / count of their tag) ** cw
  eda    augmented copies per gold_dev training ticket (word deletion / swap / crop at rate p, 0.1),
         weight aw (1)
"""
import json
import random
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
from tagger.dataset import load_dataset  # noqa: E402
from tagger.select import stratified_folds  # noqa: E402


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


def whiten(pool_emb: np.ndarray, mode: str, eps: float = 0.0):
    """A map fitted on the (unlabelled) pool: centre, or centre and PCA-whiten; rows renormalized."""
    P = pool_emb.astype(np.float64)
    mu = P.mean(0)
    M = np.eye(P.shape[1])
    if mode == "white":
        ev, V = np.linalg.eigh(np.cov((P - mu).T))
        M = V / np.sqrt(np.maximum(ev, 0) + eps)
    elif mode != "center":
        raise ValueError(f"white: {mode!r} is not 'center' or 'white'")

    def f(X):
        Z = (X.astype(np.float64) - mu) @ M
        return (Z / np.linalg.norm(Z, axis=1, keepdims=True)).astype(np.float32)
    return f


def eda(text: str, n: int, p: float, rng: random.Random) -> list[str]:
    """``n`` copies of a ticket, cycling random word deletion, random swaps and a random crop."""
    words, out = text.split(), []
    for i in range(n):
        ww = list(words)
        if len(ww) > 3 and i % 3 == 0:
            ww = [x for x in ww if rng.random() > p] or ww[:1]
        elif len(ww) > 3 and i % 3 == 1:
            for _ in range(max(1, int(p * len(ww)))):
                a, b = rng.randrange(len(ww)), rng.randrange(len(ww))
                ww[a], ww[b] = ww[b], ww[a]
        elif len(ww) > 4:
            keep = max(3, int(len(ww) * (1 - 2 * p)))
            start = rng.randrange(len(ww) - keep + 1)
            ww = ww[start:start + keep]
        out.append(" ".join(ww))
    return out


def run(v: dict, s: dict) -> list[float]:
    de, y, C = s["dev_emb"], s["y"], len(s["ds"].tags)
    U = s["pool_emb"][~s["in_dev"]]
    if v.get("white"):
        f = whiten(s["pool_emb"], v["white"], v.get("eps", 0.0))
        de, U = f(de), f(U)
    A = None
    if v.get("eda"):
        rng = random.Random(0)
        aug = [(a, i) for i, t in enumerate(s["ds"].gold_dev["text"]) for a in eda(t, v["eda"], v.get("p", 0.1), rng)]
        A, src = s["enc"]([a for a, _ in aug]), np.array([i for _, i in aug])
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
        if A is not None:
            am = tr[src]
            X, Y = np.vstack([X, A[am]]), np.vstack([Y, E[y[src[am]]]])
            w = np.concatenate([w, np.full(int(am.sum()), v.get("aw", 1.0), np.float32)])
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
            pw = np.full(int(m.sum()), v.get("pw", 1.0), np.float32)
            if v.get("cw"):
                cnt = np.bincount(pred[m], minlength=C).astype(np.float32)
                pw *= (cnt.sum() / C / np.maximum(cnt[pred[m]], 1)) ** v["cw"]
            W, b = train_head(np.vstack([X, U[m]]), np.vstack([Y, E[pred][m]]), np.concatenate([w, pw]), l2=l2)
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
