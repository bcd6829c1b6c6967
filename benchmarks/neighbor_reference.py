"""Neighbour LFs against the whole pool or a seeded sample of it (``lfs.neighbor.max_reference``), side by side.

    python benchmarks/neighbor_reference.py CONFIG [--cap 20000]

For each setting, in one process and on the config's cached embeddings: the time of the fixed-LF step
(operator-tag, neighbour and store LFs applied to the pool), the neighbour LFs' votes on the pool, and the
label model's gold_dev accuracy on covered tickets (optimistic: exemplar LFs and label-model seeds use
gold_dev), then how often the two settings' weak labels agree. gold_test is not read. Used on the
Banking77 pool scaled to 100,000 tickets (``benchmarks/run_scale.py`` writes that config).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from labeling_functions.label_model import covered  # noqa: E402
from tagger.config import load_config  # noqa: E402
from tagger.dataset import load_dataset, weak_labeler  # noqa: E402
from tagger.pipeline import make_encoder  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--cap", type=int, default=20000, help="the sample size to compare with the whole pool")
    a = ap.parse_args()
    labels = {}
    for cap in (a.cap, None):
        cfg = load_config(a.config, {"lfs": {"neighbor": {"max_reference": cap}}})
        ds = load_dataset(cfg)
        enc = make_encoder(cfg)
        pool_emb, dev_emb = enc(ds.pool["text"].tolist()), enc(ds.gold_dev["text"].tolist())
        t = time.perf_counter()
        labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, enc)
        secs = time.perf_counter() - t
        wl = labeler(np.ones(len(ds.gold_dev), dtype=bool))
        nn = [j for j, s in enumerate(wl.specs) if s.kind == "neighbor"]
        cov = covered(wl.L_dev)
        acc = float((wl.dev_lm.argmax(1)[cov] == labeler.y_dev[cov]).mean())
        labels[cap] = wl.proba.argmax(1)
        print(f"max_reference={cap}: {len(ds.pool):,} pool tickets, fixed LFs {secs:.1f} s, neighbour votes on the "
              f"pool {int((wl.L[:, nn] != -1).sum()):,}, label model gold_dev accuracy (covered) {acc:.4f}", flush=True)
    print(f"weak-label argmax agreement, sample vs whole pool: {(labels[a.cap] == labels[None]).mean():.4f}")


if __name__ == "__main__":
    main()
