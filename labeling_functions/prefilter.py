"""Exact literal prefiltering for keyword and regex LFs.

Most LF regexes can only match a text that contains certain literal words ("card", "refund").
:func:`required_literals` reads them off the parsed regex (Python's own ``re`` parser) as a
conjunction of clauses, each clause a set of alternatives. :class:`TextIndex` tokenizes every
ticket once and answers "which rows contain one of these literals" from an inverted index, so the
real regex only runs on the candidate rows. The prefilter is a superset test by construction, so
the label matrix is identical to searching every row (tests fuzz this against brute force):

* literals are kept only as runs of ASCII ``[0-9a-z_]`` characters;
* texts are normalized by mapping every character that ``re.IGNORECASE`` matches to an ASCII
  letter (``A``, the Kelvin sign, ``ſ``, ``İ``, ``ı`` ...) onto that lowercase letter, one character
  for one, so any span a pattern matches contains the literal in the normalized text;
* a literal of word characters always lies inside one ``[0-9a-z_]+`` token, so the index looks it
  up as a substring of the vocabulary, never as a whole-word match.

Anything the parser cannot prove required (lookarounds, optional parts, classes) is simply not
used; a pattern with no required literal is searched on every row.
"""
from __future__ import annotations

import re
import string
import sys
from typing import Sequence

import numpy as np

try:  # Python 3.11+
    import re._constants as C  # type: ignore[import-not-found]
    import re._parser as P  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as P  # type: ignore[no-redef]

WORD = set(string.ascii_lowercase + string.digits + "_")
TOKEN = re.compile(r"[0-9a-z_]+")
MIN_LITERAL = 2


# Every character that ``re.IGNORECASE`` matches to an ASCII letter, mapped to that lowercase
# letter: A-Z plus U+0130 (İ), U+0131 (ı), U+017F (ſ) and U+212A (Kelvin sign).
# ``scan_fold_table`` derives it from ``re`` itself; a test checks the two agree.
FOLD = {**{ord(c): c.lower() for c in string.ascii_uppercase}, 0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


def scan_fold_table() -> dict[int, str]:
    every = "".join(chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF)
    table: dict[int, str] = {}
    for m in re.finditer("[a-z]", every, re.IGNORECASE):  # one C-speed scan of all code points
        c = m.group()
        letter = next(a for a in string.ascii_lowercase if re.fullmatch(a, c, re.IGNORECASE))
        if c != letter:
            table[ord(c)] = letter
    return table


def normalize(text: str) -> str:
    return text.translate(FOLD)


def required_literals(pattern: str | re.Pattern, flags: int = 0) -> list[set[str]]:
    """Clauses (AND) of literal alternatives (OR) that every match of ``pattern`` contains."""
    if isinstance(pattern, re.Pattern):
        pattern, flags = pattern.pattern, pattern.flags
    try:
        parsed = P.parse(pattern, flags & ~re.UNICODE)
    except Exception:  # noqa: BLE001 - unparsable here means "no prefilter", the LF compiles elsewhere
        return []
    return _seq(list(parsed))


def _seq(items) -> list[set[str]]:
    clauses: list[set[str]] = []
    run: list[str] = []

    def flush():
        if len(run) >= MIN_LITERAL:
            clauses.append({"".join(run)})
        run.clear()

    for op, av in items:
        if op is C.LITERAL:
            ch = chr(av).lower() if chr(av).isascii() else ""
            if ch and ch in WORD:
                run.append(ch)
                continue
            flush()
            continue
        flush()
        if op is C.SUBPATTERN:
            clauses += _seq(list(av[-1]))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)) and av[0] >= 1:
            clauses += _seq(list(av[2]))
        elif op is getattr(C, "ATOMIC_GROUP", None):
            clauses += _seq(list(av))
        elif op is C.BRANCH:
            alts: set[str] = set()
            for branch in av[1]:
                best = _best(_seq(list(branch)))
                if best is None:
                    alts = set()
                    break
                alts |= best
            if alts:
                clauses.append(alts)
    flush()
    return clauses


def _best(clauses: list[set[str]]) -> set[str] | None:
    """The most selective clause: longest shortest-alternative, then fewest alternatives."""
    if not clauses:
        return None
    return max(clauses, key=lambda c: (min(map(len, c)), -len(c)))


class TextIndex:
    """Inverted index of normalized ``[0-9a-z_]+`` tokens; candidate rows for literal clauses."""

    def __init__(self, texts: Sequence[str]):
        vocab: dict[str, int] = {}
        rows: list[np.ndarray] = []
        toks: list[np.ndarray] = []
        for i, t in enumerate(texts):
            ids = {vocab.setdefault(w, len(vocab)) for w in TOKEN.findall(normalize(t))} if isinstance(t, str) else ()
            if ids:
                toks.append(np.fromiter(ids, dtype=np.int64, count=len(ids)))
                rows.append(np.full(len(ids), i, dtype=np.int64))
        self.texts = list(texts)  # the applier reads candidate texts from here (one list per frame)
        self.n = len(texts)
        tok = np.concatenate(toks) if toks else np.empty(0, np.int64)
        row = np.concatenate(rows) if rows else np.empty(0, np.int64)
        order = np.argsort(tok, kind="stable")
        self.post_rows = row[order]  # rows of token t: post_rows[ptr[t]:ptr[t+1]]
        self.ptr = np.searchsorted(tok[order], np.arange(len(vocab) + 1))
        words = sorted(vocab, key=vocab.get)
        self.blob = "\n" + "\n".join(words) + "\n"  # one string to scan for substrings at C speed
        self.starts = np.cumsum([1] + [len(w) + 1 for w in words[:-1]]) if words else np.empty(0, np.int64)
        self._cache: dict[str, np.ndarray] = {}

    def rows_with(self, literal: str) -> np.ndarray:
        """Sorted rows whose normalized text contains ``literal`` (of ``[0-9a-z_]`` characters)."""
        hit = self._cache.get(literal)
        if hit is None:
            pos = [m.start() for m in re.finditer(re.escape(literal), self.blob)]
            tids = np.unique(np.searchsorted(self.starts, pos, side="right") - 1) if pos else []
            parts = [self.post_rows[self.ptr[t]:self.ptr[t + 1]] for t in tids]
            hit = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
            self._cache[literal] = hit
        return hit

    def candidates(self, clauses: list[set[str]], max_clauses: int = 3) -> np.ndarray | None:
        """Rows that satisfy every clause (at most the ``max_clauses`` most selective); None = all rows."""
        if not clauses:
            return None
        out = None
        for clause in sorted(clauses, key=lambda c: (-min(map(len, c)), len(c)))[:max_clauses]:
            rows = np.unique(np.concatenate([self.rows_with(lit) for lit in clause]))
            out = rows if out is None else np.intersect1d(out, rows, assume_unique=True)
            if len(out) == 0:
                break
        return out
