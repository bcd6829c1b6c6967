"""Speed and scale benchmarks, side by side on this machine; prints a table and writes it to a file.

    python benchmarks/run.py [--quick] [--only applier,label_model,tagging] [--out benchmarks/results.md]

1. LF application: N keyword/regex LFs over M tickets (the Banking77 pool, repeated with a suffix
   to reach M): the project's vectorized applier against snorkel's PandasLFApplier; the label
   matrices must be identical (asserted).
2. Label model: 77 tags x ~300 LFs: the project's source-family snorkel model against one snorkel
   LabelModel over all LFs, the latter in a subprocess with one BLAS thread and a time limit.
3. Batch tagging throughput of a trained frozen-mode model: fp32 against int8 dynamic quantization
   of the encoder's Linear layers, with gold_test macro-F1 of both.
Needs ../shared/benchmarks/banking77 (and a trained model for 3: --model RUN_DIR/model).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
B77 = ROOT.parent / "shared" / "benchmarks" / "banking77"

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scaled_pool(n: int) -> pd.DataFrame:
    pool = pd.read_csv(B77 / "pool.csv")
    reps = -(-n // len(pool))
    texts = [t if r == 0 else f"{t} (ref {r})" for r in range(reps) for t in pool["text"]][:n]
    return pd.DataFrame({"ticket_id": [f"t{i}" for i in range(n)], "text": texts,
                         "operator_tag": (list(pool["operator_tag"]) * reps)[:n]})


def make_lfs(n_lfs: int):
    """Keyword and regex LFs from the most tag-specific words of gold_dev (deterministic)."""
    from sklearn.feature_extraction.text import CountVectorizer

    from labeling_functions.spec import LFSpec

    dev = pd.read_csv(B77 / "gold_dev.csv")
    vec = CountVectorizer(binary=True, stop_words="english", ngram_range=(1, 2), min_df=2)
    X = vec.fit_transform(dev["text"])
    vocab = vec.get_feature_names_out()
    specs = []
    tags = sorted(dev["tag"].unique())
    for k in range(n_lfs):
        tag = tags[k % len(tags)]
        rows = (dev["tag"] == tag).to_numpy()
        score = np.asarray(X[rows].sum(0)).ravel() / (1 + np.asarray(X.sum(0)).ravel())
        word = vocab[np.argsort(-score, kind="stable")[k // len(tags)]]
        if k % 3 == 2:
            w = word.split()[0]
            specs.append(LFSpec(id=f"re{k}", tag=tag, kind="regex", params={"pattern": rf"\b{w}\w*\b"}))
        else:
            specs.append(LFSpec(id=f"kw{k}", tag=tag, kind="keyword", params={"any": [word]}))
    return specs, tags


def bench_applier(n_tickets: int, n_lfs: int) -> list[dict]:
    import dask
    from snorkel.labeling import PandasLFApplier
    from snorkel.labeling.apply.dask import PandasParallelLFApplier

    from labeling_functions.apply import apply_lfs, compile_lfs, to_snorkel_lfs
    from labeling_functions.dask_apply import NO_STRING_CONVERSION, apply_lfs_sharded

    df = scaled_pool(n_tickets)
    specs, tags = make_lfs(n_lfs)
    comp = compile_lfs(specs, tags)
    timed = {}
    for name, fn in [
        ("fast", lambda: apply_lfs(df, comp)),
        ("dask", lambda: apply_lfs_sharded(df, comp, n_shards=os.cpu_count() or 2)),
        ("snorkel", lambda: PandasLFApplier(to_snorkel_lfs(comp)).apply(df, progress_bar=False)),
        ("snorkel_dask", lambda: PandasParallelLFApplier(to_snorkel_lfs(comp)).apply(df, n_parallel=os.cpu_count() or 2)),
    ]:
        t = time.perf_counter()
        with dask.config.set(NO_STRING_CONVERSION):
            L = fn()
        timed[name] = (time.perf_counter() - t, L)
    L_fast = timed["fast"][1]
    for name, (_, L) in timed.items():
        assert np.array_equal(L, L_fast), f"label matrix of {name} differs"
    fast, dsk, ref, ref_dsk = (timed[k][0] for k in ("fast", "dask", "snorkel", "snorkel_dask"))
    size = f"{n_lfs} keyword/regex LFs x {n_tickets:,} tickets"
    return [{"benchmark": f"LF application, {size}", "project": f"{fast:.1f} s",
             "baseline": f"{ref:.1f} s (snorkel PandasLFApplier)", "ratio": f"{ref / fast:.1f}x faster",
             "note": f"identical label matrix (asserted); {(L_fast != -1).sum():,} votes"},
            {"benchmark": f"LF application on Dask, {os.cpu_count()} processes, {size}",
             "project": f"{dsk:.1f} s (project applier per partition)",
             "baseline": f"{ref_dsk:.1f} s (snorkel DaskLFApplier)", "ratio": f"{ref_dsk / dsk:.1f}x faster",
             "note": "both identical to the single-process matrix (asserted)"}]


def _snorkel_single(L, k, q):
    from threadpoolctl import threadpool_limits

    import torch
    from snorkel.labeling.model import LabelModel

    torch.set_num_threads(1)
    t = time.perf_counter()
    with threadpool_limits(1):
        LabelModel(cardinality=k, verbose=False).fit(L, n_epochs=100, seed=1, progress_bar=False)
    q.put((time.perf_counter() - t, peak_mb()))


def bench_label_model(n_tickets: int, n_lfs: int, timeout_s: int) -> list[dict]:
    from labeling_functions.apply import apply_lfs, compile_lfs
    from labeling_functions.builders import operator_lfs
    from labeling_functions.label_model import SourceLabelModel

    df = scaled_pool(n_tickets)
    specs, tags = make_lfs(n_lfs - len(tags_of()))
    specs = operator_lfs(tags) + specs
    L = apply_lfs(df, compile_lfs(specs, tags)).astype(np.int64)
    lm = SourceLabelModel(len(tags), n_epochs=100, blas_threads=1).fit(L, [s.family for s in specs])
    ours, ours_mb = lm.fit_seconds_, peak_mb()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_snorkel_single, args=(L, len(tags), q))
    t = time.perf_counter()
    p.start()
    p.join(timeout_s)
    if p.is_alive():
        p.kill()
        p.join()
        base = f"not finished in {timeout_s} s (killed)"
        ratio = f"> {timeout_s / ours:.0f}x"
    elif p.exitcode != 0:
        base, ratio = f"crashed (exit {p.exitcode}) after {time.perf_counter() - t:.0f} s", "n/a"
    else:
        secs, mb = q.get()
        base, ratio = f"{secs:.1f} s, peak {mb / 1024:.1f} GB", f"{secs / ours:.0f}x faster"
    return [{"benchmark": f"label model, 77 tags x {len(specs)} LFs x {n_tickets:,} tickets",
             "project": f"{ours:.1f} s, peak {ours_mb / 1024:.1f} GB (process)", "baseline": base + " (one snorkel LabelModel, 1 BLAS thread)",
             "ratio": ratio, "note": f"families: {', '.join(lm.family_names_)}"}]


def tags_of():
    return pd.read_csv(B77 / "tags.csv")["tag"].tolist()


def bench_tagging(model_dir: str, batch_size: int = 64) -> list[dict]:
    import torch

    from models.end_model import TaggerModel
    from models.evaluate import score

    test = pd.read_csv(B77 / "gold_test.csv")
    texts = test["text"].tolist()
    m = TaggerModel.load(model_dir)
    rows = []
    res = {}
    for mode in ("fp32", "int8"):
        if mode == "int8":
            tok, enc = m._tm()
            m._enc = torch.ao.quantization.quantize_dynamic(enc, {torch.nn.Linear}, dtype=torch.qint8)
        m.predict_proba(texts[:64])  # warm-up
        t = time.perf_counter()
        P = m.predict_proba(texts, batch_size=batch_size)
        secs = time.perf_counter() - t
        f1 = score(test["tag"], [m.tags[i] for i in P.argmax(1)], m.tags)["macro_f1"]
        res[mode] = (len(texts) / secs, f1)
    (r32, f32), (r8, f8) = res["fp32"], res["int8"]
    rows.append({"benchmark": f"batch tagging, {len(texts):,} gold_test tickets (length-bucketed batches of {batch_size})",
                 "project": f"int8: {r8:.0f} tickets/s, macro-F1 {f8:.4f}",
                 "baseline": f"fp32: {r32:.0f} tickets/s, macro-F1 {f32:.4f}",
                 "ratio": f"{r8 / r32:.2f}x", "note": f"macro-F1 delta {f8 - f32:+.4f}"})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (minutes instead of tens of minutes)")
    ap.add_argument("--only", default="applier,label_model,tagging")
    ap.add_argument("--model", default=None, help="model dir for the tagging benchmark (RUN_DIR/model)")
    ap.add_argument("--timeout", type=int, default=300, help="time limit for the single snorkel LabelModel")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    a = ap.parse_args()
    if not B77.exists():
        sys.exit(f"needs {B77}")
    only = set(a.only.split(","))
    n_app, n_lm = (20_000, 20_000) if a.quick else (100_000, 20_000)
    rows = []
    if "applier" in only:
        rows += bench_applier(n_app, 300)
    if "label_model" in only:
        rows += bench_label_model(n_lm, 300, a.timeout)
    if "tagging" in only and a.model:
        rows += bench_tagging(a.model)
    head = (f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()} ({'quick' if a.quick else 'full'} sizes)\n\n")
    table = "| benchmark | project | baseline | ratio | note |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {r['benchmark']} | {r['project']} | {r['baseline']} | {r['ratio']} | {r['note']} |" for r in rows)
    Path(a.out).write_text(head + table + "\n")
    print(head + table)


if __name__ == "__main__":
    main()
