"""Progress of long steps: a bar on a terminal, log lines otherwise.

``progress(items, desc)`` yields ``items``. When stderr is a terminal it draws a tqdm bar; when it is
not (a log file, Airflow's task log, CI) it writes no bar frames, only an INFO line at most every
``every_s`` seconds and one when the step ends: ``embed: 120/400 (30%), 12s elapsed, about 28s left``.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
log = logging.getLogger("tagger.progress")


def _fmt(s: float) -> str:
    return f"{s:.0f}s" if s < 120 else f"{s / 60:.1f} min"


def progress(items: Iterable[T], desc: str, total: int | None = None, enabled: bool = True,
             every_s: float = 30.0, terminal: bool | None = None) -> Iterator[T]:
    """Yield ``items`` with a bar (terminal) or periodic log lines (anything else); nothing when not ``enabled``."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not enabled:
        yield from items
        return
    if terminal if terminal is not None else sys.stderr.isatty():
        from tqdm.auto import tqdm

        yield from tqdm(items, desc=desc, total=total, leave=False)
        return
    t0 = last = time.perf_counter()
    n = 0
    for n, item in enumerate(items, 1):
        yield item
        now = time.perf_counter()
        if now - last >= every_s or n == total:
            last = now
            log.info("%s", line(desc, n, total, now - t0))


def line(desc: str, n: int, total: int | None, elapsed: float) -> str:
    """``desc: n/total (pct), elapsed, about ... left`` (no estimate without a total)."""
    if not total:
        return f"{desc}: {n:,} done, {_fmt(elapsed)} elapsed"
    left = elapsed / n * (total - n) if n else float("nan")
    return (f"{desc}: {n:,}/{total:,} ({n / total:.0%}), {_fmt(elapsed)} elapsed"
            + (f", about {_fmt(left)} left" if n < total else ""))
