"""PII masking on the battery of tests/pii_battery.py: recall per placeholder type and the over-masking
rate on plain sentences, as markdown tables; then the masking time of long tokens (linear time).

    python benchmarks/pii_battery.py            # tables, misses and over-masked sentences if any
    python benchmarks/pii_battery.py --no-time  # the tables only

Not part of the tests (tests/test_pii.py asserts on the same battery)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.pii import mask_pii
from tests.pii_battery import CASES, PLAIN, evaluate, leftovers, table

TOKENS = {
    "digits": lambda n: "4" * n,
    "letters": lambda n: "a" * n,
    "mixed": lambda n: ("a1B2-" * n)[:n],
    "spaced digits": lambda n: ("1 " * n)[:n],
}


def timing_table(sizes: tuple[int, ...] = (20_000, 200_000), repeat: int = 3) -> str:
    lines = ["| token | " + " | ".join(f"{n:,} chars (s)" for n in sizes) + " | ratio |",
             "|---|" + "---:|" * (len(sizes) + 1)]
    for name, make in TOKENS.items():
        times = []
        for n in sizes:
            text = make(n)
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                mask_pii(text)
                best = min(best, time.perf_counter() - t0)
            times.append(best)
        lines.append(f"| {name} | " + " | ".join(f"{t:.4f}" for t in times) + f" | {times[-1] / times[0]:.1f}x |")
    return "\n".join(lines)


def language_table(rep) -> str:
    """The same battery split by language: PII cases masked with the right type, plain sentences changed."""
    missed = {id(c) for c, _ in rep.misses}
    over = {s for s, _ in rep.over_masked}
    lines = ["| language | PII cases | typed and masked | recall | plain sentences | changed |", "|---|---:|---:|---:|---:|---:|"]
    for lang in ("en", "ru"):
        cases = [c for c in CASES if c.lang == lang]
        ok = sum(id(c) not in missed for c in cases)
        plain = [s for s in PLAIN if any("а" <= ch <= "я" or ch == "ё" for ch in s.lower()) == (lang == "ru")]
        lines.append(f"| {lang} | {len(cases)} | {ok} | {ok / max(len(cases), 1):.3f} | {len(plain)} | "
                     f"{sum(s in over for s in plain)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-time", action="store_true", help="skip the timing table")
    args = ap.parse_args()
    rep = evaluate(mask_pii)
    print(table(rep))
    for case, out in rep.misses:
        print(f"MISS {case.kind}: {case.sentence!r} -> {out!r} (left: {leftovers(case, out)})")
    for sentence, out in rep.over_masked:
        print(f"OVER-MASKED: {sentence!r} -> {out!r}")
    print()
    print(language_table(rep))
    if not args.no_time:
        print()
        print(timing_table())


if __name__ == "__main__":
    main()
