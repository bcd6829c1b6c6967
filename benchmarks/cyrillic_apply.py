"""LF application speed on generated support texts: ASCII before/after RE2, and Cyrillic against snorkel.

    python benchmarks/cyrillic_apply.py [--ascii-tickets 100000] [--ru-tickets 20000] [--lfs 300] [--before HEAD]

1. ASCII: the applier of git ref ``--before`` (Python ``re``, ASCII-only prefilter) and the working
   tree's (RE2, Unicode prefilter) on the same texts and the same 300 keyword/regex specs (shaped like
   ``benchmarks/run.py``'s: keyword phrases and ``\\bword\\w*\\b`` regexes), in one process, side by
   side, alternating, best of two each.
2. Cyrillic: 300 Russian keyword/regex LFs; the project applier against snorkel's ``PandasLFApplier``
   (identical label matrix asserted), and the ``--before`` applier on the keyword LFs (its prefilter
   took ASCII literals only, so it searched every ticket).

Texts are generated here from a seeded syllable model (no data files are read). Times are CPU seconds
of this process unless ``--clock wall``. Prints table rows in the format of ``benchmarks/results.md``.
"""
from __future__ import annotations

import argparse
import importlib
import random
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RU_SYLLABLES = [c + v for c in "бвгджзклмнпрстфхцчшщ" for v in "аеёиоуыэюя"]
EN_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def vocabulary(syllables: list[str], n: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def variant(word: str, rng: random.Random) -> str:
    """How a ticket writes a word: mostly lower case, sometimes capitalized or shouted; ё often as е."""
    r = rng.random()
    w = word.replace("ё", "е") if rng.random() < 0.5 else word
    return w.upper() if r < 0.05 else w.capitalize() if r < 0.2 else w


def tickets(vocab: list[str], n: int, rng: random.Random) -> list[str]:
    weights = 1 / np.arange(1, len(vocab) + 1)  # Zipf-like word frequencies
    cum = np.cumsum(weights / weights.sum())
    out = []
    for _ in range(n):
        k = rng.randint(8, 30)
        idx = np.searchsorted(cum, [rng.random() for _ in range(k)])
        words = [variant(vocab[min(i, len(vocab) - 1)], rng) for i in idx]
        for j in range(len(words) - 1):
            if rng.random() < 0.1:
                words[j] += rng.choice([",", ".", "!", "?", ":"])
        out.append(" ".join(words) + rng.choice(["", ".", "?", " №12345", "\u00a0спасибо" if vocab[0] > "z" else " thanks"]))
    return out


def specs_for(vocab: list[str], n_lfs: int, tags: list[str], cyrillic: bool, rng: random.Random) -> list[dict]:
    """Keyword (one word or a two-word phrase) and regex LFs on mid-frequency words."""
    mid = vocab[50:1500]
    out = []
    for k in range(n_lfs):
        w, w2 = rng.choice(mid), rng.choice(mid)
        tag = tags[k % len(tags)]
        if k % 3 == 2:
            stem = w[:-1] if len(w) > 4 else w
            pattern = rf"(?:^|[^\p{{L}}]){stem}\p{{L}}*" if cyrillic else rf"\b{stem}\w*\b"
            out.append({"id": f"re{k}", "tag": tag, "kind": "regex", "params": {"pattern": pattern}})
        else:
            out.append({"id": f"kw{k}", "tag": tag, "kind": "keyword", "params": {"any": [w] if k % 3 == 0 else [f"{w} {w2}", w]}})
    return out


def load_before(ref: str) -> types.ModuleType:
    """The applier of git ``ref`` as a separate package ``lf_before`` (its spec, prefilter and apply)."""
    pkg = Path(tempfile.mkdtemp()) / "lf_before"
    pkg.mkdir()
    for name in ("__init__", "spec", "prefilter", "apply"):
        src = subprocess.run(["git", "show", f"{ref}:labeling_functions/{name}.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        (pkg / f"{name}.py").write_text(src.replace("labeling_functions", "lf_before"))
    sys.path.insert(0, str(pkg.parent))
    return importlib.import_module("lf_before.apply")


CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCK["cpu"]


def timed(fn):
    """Seconds on ``clock`` (CPU seconds of this process by default: every path measured here is
    single-process, and CPU time does not count waiting for a shared machine's other jobs)."""
    t = clock()
    out = fn()
    return clock() - t, out


def frame(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"ticket_id": [f"t{i}" for i in range(len(texts))], "text": texts})


def row(benchmark, project, baseline, ratio, note) -> str:
    return f"| {benchmark} | {project} | {baseline} | {ratio} | {note} |"


def bench_ascii(before, n_tickets: int, n_lfs: int) -> str:
    from labeling_functions.apply import apply_lfs, compile_lfs
    from labeling_functions.spec import LFSpec

    rng = random.Random(1)
    vocab = vocabulary(EN_SYLLABLES, 4000, rng)
    df = frame(tickets(vocab, n_tickets, rng))
    tags = [f"tag{i}" for i in range(77)]
    raw = specs_for(vocab, n_lfs, tags, cyrillic=False, rng=rng)
    old_specs = [before.LFSpec.model_validate(s) for s in raw]
    new_specs = [LFSpec.model_validate(s) for s in raw]
    c_old, comp_old = timed(lambda: before.compile_lfs(old_specs, tags))
    c_new, comp_new = timed(lambda: compile_lfs(new_specs, tags))
    runs = {"old": [], "new": []}
    for _ in range(2):  # alternate, best of two each: neither side gains from running second
        runs["old"].append(timed(lambda: before.apply_lfs(df, comp_old)))
        runs["new"].append(timed(lambda: apply_lfs(df, comp_new)))
    (t_old, L_old), (t_new, L_new) = (min(runs[k], key=lambda r: r[0]) for k in ("old", "new"))
    same = np.array_equal(L_old, L_new)
    return row(f"LF application, {n_lfs} keyword/regex LFs x {n_tickets:,} generated ASCII tickets (best of 2)",
               f"{t_new:.2f} s (RE2, Unicode prefilter; compiling the LFs {c_new:.2f} s)",
               f"{t_old:.2f} s (before: Python re, ASCII prefilter; compiling {c_old:.2f} s)",
               f"{t_old / t_new:.2f}x", f"label matrices {'identical' if same else 'DIFFER'}; {(L_new != -1).sum():,} votes")


def bench_cyrillic(before, n_tickets: int, n_lfs: int) -> list[str]:
    from snorkel.labeling import PandasLFApplier

    from labeling_functions.apply import apply_lfs, compile_lfs, to_snorkel_lfs
    from labeling_functions.prefilter import TextIndex
    from labeling_functions.spec import LFSpec

    rng = random.Random(2)
    vocab = vocabulary(RU_SYLLABLES, 4000, rng)
    df = frame(tickets(vocab, n_tickets, rng))
    tags = [f"tag{i}" for i in range(77)]
    raw = specs_for(vocab, n_lfs, tags, cyrillic=True, rng=rng)
    c_fast, comp = timed(lambda: compile_lfs([LFSpec.model_validate(s) for s in raw], tags))
    t_fast, L = timed(lambda: apply_lfs(df, comp))
    t_sn, L_sn = timed(lambda: PandasLFApplier(to_snorkel_lfs(comp)).apply(df, progress_bar=False))
    assert np.array_equal(L, L_sn), "label matrix differs from snorkel's"
    idx = TextIndex(df["text"].tolist())
    cand = [idx.candidates(c.clauses) for c in comp]
    share = np.mean([1.0 if r is None else len(r) / len(df) for r in cand])
    kw = [s for s in raw if s["kind"] == "keyword"]
    kw_cols = [j for j, s in enumerate(raw) if s["kind"] == "keyword"]
    old_comp = before.compile_lfs([before.LFSpec.model_validate(s) for s in kw], tags)
    new_comp = [comp[j] for j in kw_cols]
    t_old, L_old = timed(lambda: before.apply_lfs(df, old_comp))
    t_kw, _ = timed(lambda: apply_lfs(df, new_comp))
    old_cand = np.mean([1.0 if not c.clauses else 0.0 for c in old_comp])
    diff = np.argwhere(L_old != L[:, kw_cols])
    changed = len(diff)
    yo = sum(any("ё" in x.lower() for x in [df["text"][i], *kw[j]["params"]["any"]]) for i, j in diff)
    size = f"{n_lfs} Cyrillic keyword/regex LFs x {n_tickets:,} generated Russian tickets"
    return [row(f"LF application, {size}", f"{t_fast:.2f} s (compiling the LFs {c_fast:.2f} s)", f"{t_sn:.1f} s (snorkel PandasLFApplier)",
                f"{t_sn / t_fast:.1f}x faster",
                f"identical label matrix (asserted); {(L != -1).sum():,} votes; RE2 searched {share:.1%} of ticket-LF pairs"),
            row(f"LF application, the {len(kw)} Cyrillic keyword LFs of that set x {n_tickets:,} tickets",
                f"{t_kw:.2f} s (Unicode prefilter)", f"{t_old:.2f} s (before: no Cyrillic literals, {old_cand:.0%} of LFs scan every ticket)",
                f"{t_old / t_kw:.1f}x faster", f"{changed:,} votes differ, {yo:,} of them where the ticket or the keyword has ё (ё/е folding is new)")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ascii-tickets", type=int, default=100_000)
    ap.add_argument("--ru-tickets", type=int, default=5_000)
    ap.add_argument("--lfs", type=int, default=300)
    ap.add_argument("--before", default="HEAD", help="git ref of the applier to compare with")
    ap.add_argument("--clock", choices=sorted(CLOCK), default="cpu")
    args = ap.parse_args()
    global clock
    clock = CLOCK[args.clock]
    before = load_before(args.before)
    print(f"times in {args.clock} seconds")
    print("| benchmark | project | baseline | ratio | note |\n|---|---|---|---|---|")
    print(bench_ascii(before, args.ascii_tickets, args.lfs), flush=True)
    for r in bench_cyrillic(before, args.ru_tickets, args.lfs):
        print(r, flush=True)


if __name__ == "__main__":
    main()
