"""Speed and scale benchmarks, side by side on this machine; prints a table and writes it to a file.

    python benchmarks/run.py [--quick] [--only applier,label_model,tagging] [--out benchmarks/results.md]

1. LF application: N keyword/regex LFs over M tickets (the Banking77 pool, repeated with a suffix
   to reach M): the project's vectorized applier against snorkel's PandasLFApplier; the label
   matrices must be identical (asserted).
2. Label model: 77 tags x ~300 LFs: the project's source-family snorkel model against one snorkel
   LabelModel over all LFs, the latter in a subprocess with one BLAS thread and a time limit.
3. Batch tagging throughput of a trained model on a seeded sample of 3,080 pool tickets: plain fp32 with
   dynamic padding against length bucketing, torch's int8 dynamic quantization, and the project's int8
   path (models/int8.py, per-token activation scales, the default of ``tagger tag``), with the share of
   tags each gives as plain fp32 does (gold_test is not read: it is for final scoring only).
4. Sharded tagging (the batch_tagging DAG's mapped shards) against one pass, fp32 and int8.
5. A later refinement round on Banking77 with the caches warm (ten new LFs, label model, end model).
Needs ../shared/benchmarks/banking77; 3 and 4 use --model RUN_DIR/model or the newest Banking77 run.
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


def _fit_child(kind, L, families, k, q, mem_gb):
    """Fit one label model in a fresh process (so its peak memory is its own) and report it."""
    # a ceiling on the address space, so running out of memory fails this process, not the machine
    resource.setrlimit(resource.RLIMIT_AS, (int(mem_gb * 2**30), resource.RLIM_INFINITY))
    from threadpoolctl import threadpool_limits

    import torch

    torch.set_num_threads(1)
    t = time.perf_counter()
    try:
        with threadpool_limits(1):
            if kind == "project":
                from labeling_functions.label_model import SourceLabelModel

                SourceLabelModel(k, n_epochs=100, blas_threads=1).fit(L, families)
            else:
                from snorkel.labeling.model import LabelModel

                LabelModel(cardinality=k, verbose=False).fit(L, n_epochs=100, seed=1, progress_bar=False)
    except MemoryError:
        q.put(("MemoryError", time.perf_counter() - t))
        raise
    except RuntimeError as e:  # torch's allocator reports running out of memory as a RuntimeError
        if "allocate" in str(e):
            q.put(("out of memory in torch", time.perf_counter() - t))
        raise
    q.put((time.perf_counter() - t, peak_mb()))


def _timed_child(kind, L, families, k, timeout_s, mem_gb) -> tuple[str, float | None]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_fit_child, args=(kind, L, families, k, q, mem_gb))
    t = time.perf_counter()
    p.start()
    p.join(timeout_s)
    if p.is_alive():
        p.kill()
        p.join()
        return f"not finished in {timeout_s} s (killed)", None
    if p.exitcode != 0:
        why = f"exit {p.exitcode}"
        if not q.empty():
            got = q.get()
            why = got[0] if isinstance(got[0], str) else why
        return f"failed ({why}) after {time.perf_counter() - t:.0f} s under a {mem_gb:g} GB address-space limit", None
    secs, mb = q.get()
    return f"{secs:.1f} s, peak {mb / 1024:.2f} GB", secs


def bench_label_model(n_tickets: int, n_lfs: int, timeout_s: int, mem_gb: float = 12.0) -> list[dict]:
    from labeling_functions.apply import apply_lfs, compile_lfs
    from labeling_functions.builders import operator_lfs

    df = scaled_pool(n_tickets)
    specs, tags = make_lfs(n_lfs - len(tags_of()))
    specs = operator_lfs(tags) + specs
    L = apply_lfs(df, compile_lfs(specs, tags)).astype(np.int64)
    families = [s.family for s in specs]
    ours, ours_s = _timed_child("project", L, families, len(tags), timeout_s, mem_gb)
    base, base_s = _timed_child("snorkel", L, families, len(tags), timeout_s, mem_gb)
    if ours_s and base_s:
        ratio = f"{base_s / ours_s:.0f}x faster"
    elif ours_s and "not finished" in base:
        ratio = f"> {timeout_s / ours_s:.0f}x faster"
    else:
        ratio = "n/a"
    return [{"benchmark": f"label model, 77 tags x {len(specs)} LFs x {n_tickets:,} tickets",
             "project": ours + " (source families, 1 BLAS thread)",
             "baseline": base + " (one snorkel LabelModel over all LFs, 1 BLAS thread)",
             "ratio": ratio, "note": f"families: {', '.join(sorted(set(families)))}; each fit in its own process"}]


def tags_of():
    return pd.read_csv(B77 / "tags.csv")["tag"].tolist()


def _baseline_proba(m, texts, batch_size):
    """fp32, dynamic padding per batch in arrival order (no length bucketing): the plain baseline."""
    import torch

    from models.encoder import mean_pool

    tok, enc = m._tm()
    out = []
    with torch.inference_mode():
        for a in range(0, len(texts), batch_size):
            b = tok(texts[a:a + batch_size], padding=True, truncation=True, max_length=m.info.max_length,
                    return_tensors="pt")
            e = torch.nn.functional.normalize(mean_pool(enc(**b).last_hidden_state, b["attention_mask"]), dim=-1)
            out.append(e.numpy())
    return m.proba(texts, np.concatenate(out))


def torch_dynamic_int8(enc):
    """torch's stock int8 dynamic quantization (one activation scale per batch), for comparison."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(enc, {torch.nn.Linear}, dtype=torch.qint8)


def tagging_sample(n: int = 3080, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of pool tickets for the tagging benchmarks: unlabeled tickets, so the int8
    choice rests on agreement with fp32, never on gold_test."""
    pool = pd.read_csv(B77 / "pool.csv")
    return pool.sample(n=min(n, len(pool)), random_state=seed).reset_index(drop=True)


def bench_tagging(model_dir: str, batch_size: int = 64) -> list[dict]:
    from models.end_model import TaggerModel

    texts = tagging_sample()["text"].tolist()
    res, tags = {}, {}
    for mode in ("baseline", "fp32", "int8-dynamic", "int8"):
        m = TaggerModel.load(model_dir, precision="int8" if mode == "int8" else "fp32")
        if mode == "int8-dynamic":
            m._enc = torch_dynamic_int8(m._tm()[1])
        predict = (lambda t: _baseline_proba(m, t, batch_size)) if mode == "baseline" else (
            lambda t: m.predict_proba(t, batch_size=batch_size))
        predict(texts[:64])  # warm-up
        t = time.perf_counter()
        P = predict(texts)
        res[mode] = len(texts) / (time.perf_counter() - t)
        tags[mode] = P.argmax(1)
    r0 = res["baseline"]
    labels = {"fp32": "fp32, length-bucketed batches", "int8-dynamic": "torch int8 dynamic quantization, length-bucketed",
              "int8": "project int8 (per-token scales), length-bucketed: default of `tagger tag`"}
    rows = []
    for mode, label in labels.items():
        same = float((tags[mode] == tags["baseline"]).mean())
        rows.append({"benchmark": f"batch tagging, {len(texts):,} pool tickets: {label}",
                     "project": f"{res[mode]:.0f} tickets/s, tags as fp32: {same:.2%}",
                     "baseline": f"{r0:.0f} tickets/s (fp32, dynamic padding, batches of {batch_size})",
                     "ratio": f"{res[mode] / r0:.2f}x", "note": f"{int(round((1 - same) * len(texts)))} tags differ"})
    return rows


def bench_tag_shards(model_dir: str, shard_size: int = 500) -> list[dict]:
    """The batch_tagging DAG's path: tickets split into shards (plan_shards), each tagged alone
    (tag_frame, as each mapped task does) against one pass over all tickets."""
    from data.io import load_tickets
    from models.end_model import TaggerModel
    from tagger.batch import plan_shards
    from tagger.tagging import model_limits, tag_frame

    rows = []
    sample_ids = set(tagging_sample()["ticket_id"])
    for precision in ("fp32", "int8", "int8-dynamic"):
        m = TaggerModel.load(model_dir, precision="int8" if precision == "int8" else "fp32")
        if precision == "int8-dynamic":
            m._enc = torch_dynamic_int8(m._tm()[1])
        tickets, _ = load_tickets(B77 / "pool.csv", model_limits(m))
        tickets = tickets[tickets["ticket_id"].isin(sample_ids)].reset_index(drop=True)
        whole = tag_frame(m, tickets).set_index("ticket_id")
        ids = sorted(tickets["ticket_id"])
        by_id = tickets.set_index("ticket_id")
        parts = [tag_frame(m, by_id.loc[sh].reset_index()) for sh in plan_shards(ids, shard_size)]
        sharded = pd.concat(parts).set_index("ticket_id").loc[whole.index]
        same = int((sharded["tag"] == whole["tag"]).sum())
        diff = float((sharded["confidence"] - whole["confidence"]).abs().max())
        label = {"fp32": "fp32", "int8": "project int8", "int8-dynamic": "torch int8 dynamic"}[precision]
        rows.append({"benchmark": f"sharded tagging ({label}), {len(ids):,} tickets in shards of {shard_size}",
                     "project": f"{same:,}/{len(ids):,} tags identical, max confidence difference {diff:.1e}",
                     "baseline": "one pass over all tickets", "ratio": "tags identical" if same == len(ids) else "tags differ",
                     "note": "each shard is tagged alone, as each mapped Airflow task does"})
    return rows


def bench_round(config: str) -> list[dict]:
    """One later refinement round on Banking77 with the embedding cache and the LF-vote cache warm:
    miner proposals from the current errors -> gate -> ten new LFs applied -> label model ->
    end model (frozen encoder + head on weak labels and gold_dev) -> gold_dev score."""
    from sklearn.metrics import f1_score

    from labeling_functions.label_model import covered
    from llm_rulegen.gate import gate_lfs, spec_from_proposal
    from llm_rulegen.loop import build_context, split_dev
    from models.encoder import Encoder
    from models.end_model import head_proba
    from tagger.config import load_config
    from models.recipes import fit_recipe_head, recipe_training_set
    from tagger.dataset import load_dataset, weak_labeler
    from tagger.refine import make_proposer

    cfg = load_config(config)
    t = time.perf_counter()
    ds = load_dataset(cfg)
    em = cfg.end_model
    enc = Encoder(max_length=em.max_length, batch_size=em.batch_size, cache_dir=cfg.cache_dir)
    pool_emb, dev_emb = enc(ds.pool["text"].tolist()), enc(ds.gold_dev["text"].tolist())
    labeler = weak_labeler(cfg, ds, pool_emb, dev_emb, enc)
    gate_mask = split_dev(ds.gold_dev["tag"].to_numpy(), cfg.seed)
    head_kw = {"l2": em.head.l2, "max_iter": em.head.max_iter, "seed": cfg.seed}
    recipe = {"name": "weak+dev_w5", "weak": True, "dev_weight": 5.0, "self_train": 0}
    dev_gate = ds.gold_dev[gate_mask].reset_index(drop=True)
    y = labeler.y_dev

    def model_round(extra):
        wl = labeler(gate_mask, extra_specs=extra)
        keep, _, Y, w = recipe_training_set(recipe, ds.pool, ds.tags, wl.proba, covered(wl.L), dev_gate, em.min_confidence,
                                            exclude_ids=ds.gold_dev["ticket_id"][~gate_mask])
        W, b, _ = fit_recipe_head(recipe, np.vstack([pool_emb[keep], dev_emb[gate_mask]]), Y, w, pool_emb[~keep], head_kw)
        pred = head_proba(dev_emb, W, b).argmax(1)
        return wl, pred, f1_score(y[~gate_mask], pred[~gate_mask], average="macro")

    wl0, pred0, f0 = model_round([])
    warm = time.perf_counter() - t
    t = time.perf_counter()  # ---- the timed round ----
    r = cfg.refine
    ctx = build_context(1, ds, dev_gate, gate_mask, pred0, wl0,
                        dict(zip(ds.tag_table["tag"], ds.tag_table["description"])), r)
    prop = make_proposer(cfg).propose(ctx)
    gate_cfg = r.gate.model_copy(update={"accept_status": "active"})
    adds = [spec_from_proposal(it, "miner:miner-v1", {"round": 1}) for it in prop.items]
    res = gate_lfs(adds, ds.tags, ds.pool, dev_gate, wl0.specs, {}, gate_cfg, embed=enc,
                   pool_emb=pool_emb, dev_emb=dev_emb[gate_mask])
    added = res.accepted[:10]
    _, _, f1 = model_round(added)
    secs = time.perf_counter() - t
    return [{"benchmark": f"a later refinement round on Banking77 ({len(ds.pool):,} tickets), caches warm",
             "project": f"{secs:.1f} s wall: {len(prop.items)} miner proposals gated, {len(added)} LFs added, "
                        "label model and end model retrained, gold_dev scored",
             "baseline": "goal: 180 s", "ratio": f"{180 / secs:.1f}x under the goal",
             "note": f"loading and round 0 took {warm:.1f} s before; selection-half macro-F1 {f0:.4f} -> {f1:.4f}"}]


def banking77_model() -> Path:
    runs = sorted(p for p in (ROOT / "runs").glob("banking77-*/model") if (p / "model_config.json").exists())
    if runs:
        return runs[-1]
    from tagger.config import load_config
    from tagger.pipeline import run_pipeline

    print("no Banking77 model yet: training one with configs/banking77.yaml", file=sys.stderr)
    return run_pipeline(load_config(ROOT / "configs" / "banking77.yaml"), progress=False) / "model"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (minutes instead of tens of minutes)")
    ap.add_argument("--only", default="applier,label_model,tagging,round")
    ap.add_argument("--config", default=str(ROOT / "configs" / "banking77.yaml"), help="config of the round benchmark")
    ap.add_argument("--model", default=None, help="model dir for the tagging benchmarks (RUN_DIR/model); default: "
                    "the newest runs/banking77-*/model, trained first with configs/banking77.yaml if there is none")
    ap.add_argument("--timeout", type=int, default=300, help="time limit for the single snorkel LabelModel")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    a = ap.parse_args()
    if not B77.exists():
        sys.exit(f"needs {B77}")
    only = set(a.only.split(","))
    n_app, n_lm = (20_000, [20_000]) if a.quick else (100_000, [20_000, 100_000])
    if "tagging" in only and not a.model:
        a.model = str(banking77_model())
    rows = []
    if "applier" in only:
        rows += bench_applier(n_app, 300)
    if "label_model" in only:
        for n in n_lm:
            rows += bench_label_model(n, 300, a.timeout)
    if "tagging" in only:
        rows += bench_tagging(a.model) + bench_tag_shards(a.model)
    if "round" in only:
        rows += bench_round(a.config)
    head = (f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()} ({'quick' if a.quick else 'full'} sizes)\n\n")
    table = "| benchmark | project | baseline | ratio | note |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {r['benchmark']} | {r['project']} | {r['baseline']} | {r['ratio']} | {r['note']} |" for r in rows)
    Path(a.out).write_text(head + table + "\n")
    print(head + table)


if __name__ == "__main__":
    main()
