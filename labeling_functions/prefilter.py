"""Exact literal prefiltering for keyword and regex LFs.

Most LF patterns can only match a text that contains certain literal words ("card", "карта").
:func:`required_literals` reads them off the parsed regex (Python's parser over
:func:`labeling_functions.regex.python_view`, which maps RE2-only syntax onto equivalent classes) as a
conjunction of clauses, each clause a set of alternatives; :func:`keyword_clauses` reads them off
keyword phrases. :class:`TextIndex` tokenizes every ticket once and answers "which rows contain one
of these literals" from an inverted index, so RE2 only runs on the candidate rows. The prefilter is
a superset test by construction, so the label matrix is identical to searching every row (tests
fuzz this against RE2 on every row, for ASCII and Cyrillic):

* texts and literals are normalized by :data:`FOLD`, one character for one: every character is
  mapped to a representative of its case class (the classes joined by ``str.lower``, ``upper`` and
  ``casefold`` over the Basic Multilingual Plane, plus ``ё`` = ``е``). Every RE2 case-folding orbit
  lies inside one class (a test checks this against RE2 itself), so whatever span a pattern matches
  case-insensitively contains the normalized literal in the normalized text;
* literals are kept only as runs of word characters (``\\w`` in Python's Unicode sense, Basic
  Multilingual Plane only); such a literal always lies inside one ``\\w+`` token of the normalized
  text, so the index looks it up as a substring of the vocabulary, never as a whole-word match.

Anything the parser cannot prove required (optional parts, classes of several letters) is simply
not used; a pattern with no required literal is searched on every row. The index also keeps each
text's UTF-8 bytes and its tier (:func:`text_tier`), which the keyword matchers use.
"""
from __future__ import annotations

import re  # tokenizes ticket text and reads pattern structure; LF patterns are matched by RE2 only
from typing import Sequence

import numpy as np

from labeling_functions.regex import python_parse, to_utf8

try:  # Python 3.11+
    import re._constants as C  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_constants as C  # type: ignore[no-redef]

TOKEN = re.compile(r"\w+")
# Texts fall into tiers by the characters they hold, so keyword boundaries can use small classes
# (cheap for RE2) where those give the same matches (see ``labeling_functions.apply.PhraseMatcher``).
ASCII_TEXT, COMMON_TEXT, ANY_TEXT = 0, 1, 2
COMMON = [(0x00, 0x7F), (0xA0, 0xFF), (0x400, 0x52F), (0x2000, 0x206F), (0x20A0, 0x20C0), (0x2100, 0x214F)]
_OUTSIDE_COMMON = re.compile("[^" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in COMMON) + "]")
MIN_LITERAL = 2
BMP = 0x10000
FOLDED_TOGETHER = [("е", "ё")]  # folded on purpose, beyond case: Russian writes ё as е


def _case_classes() -> dict[str, str]:
    """Character -> representative of its class (union of single-character case mappings, BMP)."""
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.get(c, c) != c:
            c = parent[c]
        return c

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for cp in range(BMP):
        c = chr(cp)
        for m in (c.lower(), c.upper(), c.casefold()):
            if len(m) == 1 and m != c:
                union(c, m)
    for a, b in FOLDED_TOGETHER:
        union(a, b)
    members: dict[str, list[str]] = {}
    for c in list(parent):
        members.setdefault(find(c), []).append(c)
    for root in list(members):
        members[root].append(root)
    rep = {root: min(set(ms), key=lambda x: (not x.islower(), ord(x))) for root, ms in members.items()}
    return {c: rep[root] for root, ms in members.items() for c in ms}


FOLD: dict[int, str] = {ord(c): r for c, r in _case_classes().items() if c != r}


def text_tier(text: str, utf8: bytes) -> int:
    """ASCII_TEXT; COMMON_TEXT (ASCII, Latin-1, Cyrillic, general punctuation, currency, letterlike
    symbols such as №); else ANY_TEXT."""
    if utf8.isascii():
        return ASCII_TEXT
    return ANY_TEXT if _OUTSIDE_COMMON.search(text) else COMMON_TEXT


def normalize(text: str) -> str:
    return text.translate(FOLD)


def _literal_char(cp: int) -> str:
    """The normalized character a literal contributes, or '' when it cannot be part of a literal."""
    if cp >= BMP:
        return ""
    ch = FOLD.get(cp, chr(cp))
    return ch if TOKEN.fullmatch(ch) else ""


def _class_char(items) -> str:
    """A class like ``[её]``, all of whose members normalize to one word character, is that character."""
    if not items or any(op is not C.LITERAL for op, _ in items):
        return ""
    chars = {_literal_char(av) for _, av in items}
    return chars.pop() if len(chars) == 1 else ""


def required_literals(pattern: str) -> list[set[str]]:
    """Clauses (AND) of normalized literal alternatives (OR) that every match of ``pattern`` contains."""
    parsed = python_parse(pattern)
    return [] if parsed is None else _seq(parsed)


def keyword_clauses(phrases: Sequence[str]) -> list[set[str]]:
    """One clause with a literal from each phrase (any phrase may be the one that occurs), as few and
    as long as possible: a literal that lies inside a literal of several phrases serves them all
    (``card`` serves "card" and "cards lost")."""
    lits = [phrase_literals(p) for p in phrases]
    if not lits or not all(lits):
        return []
    uncovered, chosen = set(range(len(lits))), set()
    while uncovered:
        def serves(x: str) -> set[int]:
            return {k for k in uncovered if any(x in lit for lit in lits[k])}
        best = max((x for k in uncovered for x in lits[k]), key=lambda x: (len(serves(x)), len(x), x))
        chosen.add(best)
        uncovered -= serves(best)
    return [chosen]


def phrase_literals(phrase: str) -> list[str]:
    """The normalized word runs every match of a keyword phrase contains."""
    return [t for t in TOKEN.findall(normalize(phrase)) if len(t) >= MIN_LITERAL and max(map(ord, t)) < BMP]


def _seq(items) -> list[set[str]]:
    clauses: list[set[str]] = []
    run: list[str] = []

    def flush():
        if len(run) >= MIN_LITERAL:
            clauses.append({"".join(run)})
        run.clear()

    for op, av in items:
        ch = _literal_char(av) if op is C.LITERAL else _class_char(av) if op is C.IN else ""
        if ch:
            run.append(ch)
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
    """Inverted index of normalized ``\\w+`` tokens; candidate rows for literal clauses.

    It also keeps each text's UTF-8 bytes (``utf8``), which is what RE2 searches, and its tier."""

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
        self.utf8 = [to_utf8(t) if isinstance(t, str) else None for t in self.texts]
        self.tiers = [text_tier(t, b) if b is not None else ANY_TEXT for t, b in zip(self.texts, self.utf8)]
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
        """Sorted rows whose normalized text contains ``literal`` (normalized word characters)."""
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
