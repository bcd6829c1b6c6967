"""Run time of a whole `tagger run` on the Banking77 pool scaled to 10k, 50k and 100k tickets.

    python benchmarks/run_scale.py [--sizes 10000,50000,100000] [--precision int8] [--out benchmarks/run_scale.md]

Each size is one `tagger run` of ``configs/banking77.yaml`` (operator tags, miner refinement, recipe CV,
final model, baselines, gold_test scoring) in its own process, on the pool repeated with a suffix to
reach the size (``benchmarks/run.py``'s ``scaled_pool``). The table has the wall time per step from
the run's ``metrics.json``, what recipe CV did (the pool sample its heads trained on, the recipes
racing dropped), the chosen recipe's CV macro-F1 on gold_dev, and the final gold_test macro-F1 that
the run itself scored. Sizes run one after another, never side by side. Besides the wall time it
records the run's CPU time (user + system, all its threads) and the 5-minute load average at the end:
on a shared machine the wall time depends on the other jobs, the CPU time much less.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.run import B77, scaled_pool  # noqa: E402

STEPS = ("embed", "fixed_lfs", "refine", "select", "end_model", "baselines", "evaluate")


def scaled_config(n: int, base: Path, precision: str, work: Path) -> Path:
    """A copy of ``base`` that reads the pool scaled to ``n`` tickets, with absolute paths."""
    work.mkdir(parents=True, exist_ok=True)
    pool = work / f"pool_{n}.csv"
    if not pool.exists():
        tmp = pool.with_suffix(".tmp")
        scaled_pool(n).to_csv(tmp, index=False)
        tmp.replace(pool)
    cfg = yaml.safe_load(base.read_text())
    cfg["name"] = f"{cfg['name']}_scaled{n // 1000}k"
    cfg["output_dir"], cfg["cache_dir"] = str(ROOT / "runs"), str(ROOT / ".cache")
    cfg["dataset"] = {**cfg["dataset"], "pool": str(pool), "gold_dev": str(B77 / "gold_dev.csv"),
                      "gold_test": str(B77 / "gold_test.csv"), "tags": str(B77 / "tags.csv")}
    em = cfg.setdefault("end_model", {})
    em["encoder"] = {**em.get("encoder", {}), "precision": precision}
    out = work / f"{cfg['name']}.yaml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def run_one(config: Path, timeout: int) -> dict:
    t, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "tagger.cli", "run", str(config), "--quiet"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (now.ru_utime - cpu.ru_utime) + (now.ru_stime - cpu.ru_stime)  # robust to other jobs' load
    if p.returncode != 0:
        raise RuntimeError(f"tagger run {config} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    run_dir = Path(p.stdout.strip().splitlines()[-1].split()[-1])
    return {"wall_s": wall, "cpu_s": cpu_s, "run_dir": run_dir, "metrics": json.loads((run_dir / "metrics.json").read_text())}


def row(n: int, res: dict) -> dict:
    m = res["metrics"]
    t, sel = m["timings_s"], m["selection"] or {}
    chosen = sel.get("chosen", {}).get("name", m["training"]["recipe"]["name"])
    cv = next((r for r in sel.get("table", []) if r["recipe"] == chosen), None)
    return {"tickets": f"{n:,}", "wall": f"{res['wall_s'] / 60:.1f} min",
            "CPU time": f"{res['cpu_s'] / 60:.1f} min", "load": f"{os.getloadavg()[1]:.1f}",
            **{s: f"{t.get(s, 0):.0f} s" for s in STEPS},
            "recipe CV": (f"{len(sel.get('table', []))} recipes x {sel.get('folds', 0)} folds, heads on "
                          f"{sel.get('pool_sample', 0):,} tickets, {sel.get('dropped_recipes', 0)} dropped by racing"),
            "chosen (CV macro-F1 on gold_dev)": (f"{chosen} ({cv['cv_macro_f1_mean']:.4f} ± {cv['cv_macro_f1_std']:.4f})"
                                                 if cv else chosen),
            "gold_test macro-F1": f"{m['test']['model']['macro_f1']:.4f}",
            "peak RSS": f"{m['peak_rss_mb'] / 1024:.1f} GB", "run": res["run_dir"].name}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,50000,100000")
    ap.add_argument("--config", default=str(ROOT / "configs" / "banking77.yaml"))
    ap.add_argument("--precision", default="int8", choices=["fp32", "int8"], help="end_model.encoder.precision")
    ap.add_argument("--timeout", type=int, default=3 * 3600, help="seconds per run")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "run_scale.md"))
    a = ap.parse_args()
    if not B77.exists():
        sys.exit(f"needs {B77}")
    rows = []
    for n in (int(s) for s in a.sizes.split(",")):
        cfg = scaled_config(n, Path(a.config), a.precision, ROOT / ".cache" / "scaled")
        print(f"tagger run on {n:,} tickets ...", file=sys.stderr, flush=True)
        rows.append(row(n, run_one(cfg, a.timeout)))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    head = (f"`tagger run` on the Banking77 pool scaled up ({Path(a.config).name}, encoder precision {a.precision}), "
            f"measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores\n\n")
    cols = list(rows[0])
    table = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n" + "\n".join(
        "| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows)
    Path(a.out).write_text(head + table + "\n")
    print(head + table)


if __name__ == "__main__":
    main()
