"""Apply LF specs to tickets.

:func:`apply_lfs` is the fast path: the texts are tokenized once into an inverted index
(:mod:`labeling_functions.prefilter`), each keyword/regex LF runs its RE2 pattern only on the rows
that contain its required literals, and one matrix product serves all exemplar LFs.
:func:`to_snorkel_lfs` compiles the same specs into snorkel ``LabelingFunction`` objects for
``PandasLFApplier`` and ``LFAnalysis``; they call the same RE2 patterns, and both produce the identical
label matrix (tests assert it). Every text pattern runs on RE2 (linear time), never on Python ``re``.
"""
from __future__ import annotations

import json
import string
import unicodedata
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from data.sampling import sample_rows
from labeling_functions import ABSTAIN
from labeling_functions.prefilter import (ANY_TEXT, ASCII_TEXT, COMMON, COMMON_TEXT, TextIndex, keyword_clauses,
                                          phrase_literals, required_literals, text_tier)
from labeling_functions.regex import LinearRegex, compiled_regex, to_utf8
from labeling_functions.spec import LFSpec

Embedder = Callable[[list[str]], np.ndarray]
NEIGHBOR_CHUNK = 2048


class Reference:
    """The reference tickets ``neighbor`` LFs look up (normally the pool): ids, embeddings, fields.

    Finding every ticket's neighbours costs (tickets x reference) similarities, so with ``max_rows`` below
    the frame's length the reference is a seeded sample of that many of its tickets (in their order);
    a ticket outside the sample still gets its neighbours, from the sample."""

    def __init__(self, frame: pd.DataFrame, embeddings: np.ndarray, max_rows: int | None = None, seed: int = 0):
        if len(frame) != len(embeddings):
            raise ValueError("reference needs one embedding per ticket")
        rows = sample_rows(len(frame), max_rows, [seed, 2])
        self.frame = frame.iloc[rows].reset_index(drop=True)
        self.emb = np.asarray(embeddings, dtype=np.float64)[rows]
        self.pos = {t: i for i, t in enumerate(self.frame["ticket_id"])}
        self._values: dict[str, np.ndarray] = {}

    def values(self, field: str) -> np.ndarray:
        if field not in self._values:
            col = self.frame[field] if field in self.frame.columns else _meta_columns(self.frame, {field})[field]
            self._values[field] = np.array([None if pd.isna(v) else v for v in col], dtype=object)
        return self._values[field]

    def neighbors(self, X: np.ndarray, ids: Sequence, k: int) -> np.ndarray:
        """Indices of the ``k`` most similar reference tickets per row (a ticket never neighbours itself)."""
        k = min(k, len(self.emb) - 1)
        out = np.empty((len(X), max(k, 0)), dtype=np.int64)
        if k < 1:
            return out
        for a in range(0, len(X), NEIGHBOR_CHUNK):
            # rounded and negated in place: the same numbers as np.round(X @ emb.T) and its negation, without
            # two more (chunk x reference) arrays, which took half the time of a 2,048 x 20,000 chunk
            S = np.asarray(X[a:a + NEIGHBOR_CHUNK], dtype=np.float64) @ self.emb.T
            np.round(S, SIM_DECIMALS, out=S)
            np.negative(S, out=S)
            for r, tid in enumerate(ids[a:a + NEIGHBOR_CHUNK]):
                j = self.pos.get(tid)
                if j is not None:
                    S[r, j] = np.inf
            out[a:a + NEIGHBOR_CHUNK] = np.argpartition(S, k - 1, axis=1)[:, :k]
        return out
SIM_DECIMALS = 6  # similarities (float64) are rounded so the vectorized and row-wise paths agree


def _class_body(keep: Callable[[str], bool], ranges: Sequence[tuple[int, int]]) -> str:
    """RE2 class text (no brackets) of the characters in ``ranges`` that ``keep`` accepts."""
    cps = [cp for a, b in ranges for cp in range(a, b + 1) if keep(chr(cp))]
    runs, start = [], cps[0]
    for a, b in zip(cps, cps[1:] + [-1]):
        if b != a + 1:
            runs.append(f"\\x{{{start:x}}}-\\x{{{a:x}}}")
            start = b
    return "".join(runs)


def is_word_char(c: str) -> bool:
    """A keyword's word character: a letter, digit or mark (any script), or ``_``."""
    return c == "_" or unicodedata.category(c)[0] in "LNM"


# Per text tier, the classes of word characters and of whitespace (exactly ``str.isspace``). On a
# text of a tier, each tier's classes match the same characters as ANY_TEXT's (tests check with RE2).
WORD_CHARS = r"\p{L}\p{N}\p{M}_"
NOT_WORD = rf"[^{WORD_CHARS}]"
SPACE = r"[\s\v\x{1c}-\x{1f}\x{85}\p{Z}]"
TIER_WORD = {ASCII_TEXT: "0-9A-Z_a-z", COMMON_TEXT: _class_body(is_word_char, COMMON), ANY_TEXT: WORD_CHARS}
TIER_SPACE = {ASCII_TEXT: _class_body(str.isspace, [(0, 0x7F)]), COMMON_TEXT: _class_body(str.isspace, COMMON),
              ANY_TEXT: SPACE[1:-1]}
FOLDED_LETTERS = {"е": "[её]", "ё": "[её]", "Е": "[её]", "Ё": "[её]"}  # ё and е are one letter to a keyword


def keyword_char(c: str) -> str:
    """One phrase character as RE2 pattern text (ASCII punctuation escaped, ё/е folded)."""
    if c in FOLDED_LETTERS:
        return FOLDED_LETTERS[c]
    if c.isascii() and not (c.isalnum() or c == "_"):
        return "\\" + c if c.isprintable() and c != " " else f"\\x{{{ord(c):x}}}"
    return c


def phrase_pattern(phrases: Sequence[str], tier: int = ANY_TEXT) -> str:
    """RE2 pattern text matching any of ``phrases`` between word boundaries (any whitespace run
    between words), for texts of ``tier``. The boundaries consume the neighbouring character, which
    is exact for a yes/no search: RE2 has no lookbehind, and its ``\\b`` is ASCII-only."""
    not_word, space = f"[^{TIER_WORD[tier]}]", f"[{TIER_SPACE[tier]}]+"
    alts = sorted({space.join("".join(map(keyword_char, w)) for w in p.split()) for p in phrases},
                  key=lambda a: (-len(a), a))
    return rf"(?:^|{not_word})(?:{'|'.join(alts)})(?:{not_word}|$)"


_BOUNDARY = string.whitespace + string.punctuation + "«»„“”‘’—–…"  # what a phrase pattern's boundaries may consume


class PhraseMatcher:
    """Keyword phrases on RE2, case-insensitive, ё = е. One pattern per text tier, compiled on first
    use: the ASCII and common tiers' small classes cost RE2 far less than Unicode properties."""

    __slots__ = ("phrases", "_by_tier")

    def __init__(self, phrases: Sequence[str]):
        self.phrases = tuple(phrases)
        self._by_tier: dict[int, LinearRegex] = {}

    def regex(self, tier: int) -> LinearRegex:
        r = self._by_tier.get(tier)
        if r is None:
            r = self._by_tier[tier] = LinearRegex(phrase_pattern(self.phrases, tier), ignore_case=True)
        return r

    def match(self, data: bytes, tier: int) -> bool:
        return self.regex(tier).search_bytes(data)

    def span(self, data: bytes, tier: int) -> tuple[int, int] | None:
        """Byte offsets of the leftmost matching phrase, without the boundary characters the pattern consumes."""
        found = self.regex(tier).span_bytes(data)
        if found is None:
            return None
        start, end = found
        text = data[start:end].decode("utf-8", "surrogatepass")
        lead = len(text) - len(text.lstrip(_BOUNDARY))
        trail = len(text) - len(text.rstrip(_BOUNDARY))
        return start + len(text[:lead].encode("utf-8", "surrogatepass")), \
            end - len(text[len(text) - trail:].encode("utf-8", "surrogatepass"))

    def __reduce__(self):
        return PhraseMatcher, (self.phrases,)


class CompiledLF:
    """A spec turned into matchers; ``row_vote`` and ``column_votes`` share them."""

    def __init__(self, spec: LFSpec, label: int, exemplar_emb: np.ndarray | None = None,
                 reference: Reference | None = None):
        self.spec, self.label, self.kind = spec, label, spec.kind
        p = spec.params
        self.must: list[LinearRegex | PhraseMatcher] = []
        self.exclude: LinearRegex | PhraseMatcher | None = None
        self.clauses: list[set[str]] = []  # literals every match must contain (AND of ORs)
        if spec.kind == "keyword":
            if p.any:
                self.must.append(PhraseMatcher(p.any))
                self.clauses += keyword_clauses(p.any)
            self.must.extend(PhraseMatcher([a]) for a in p.all)
            self.clauses += [{lit} for a in p.all for lit in phrase_literals(a)]
            self.exclude = PhraseMatcher(p.exclude) if p.exclude else None
        elif spec.kind == "regex":
            self.must.append(compiled_regex(p.pattern, p.ignore_case))
            self.exclude = compiled_regex(p.exclude_pattern, p.ignore_case) if p.exclude_pattern else None
            self.clauses = required_literals(p.pattern)
        elif spec.kind == "exemplar":
            if exemplar_emb is None:
                raise ValueError(f"LF {spec.id}: exemplar LF needs exemplar embeddings (pass an embedder)")
            self.ex_emb = np.asarray(exemplar_emb, dtype=np.float64)
            self.ex_ids = list(p.exemplar_ids) or [None] * len(p.texts)
            self.threshold = p.threshold
        elif spec.kind == "metadata":
            self.field = p.field
            self.values = {p.equals} if isinstance(p.equals, str) else set(p.equals)
        elif spec.kind == "neighbor":
            if reference is None:
                raise ValueError(f"LF {spec.id}: neighbor LF needs reference tickets (the pool)")
            self.ref, self.field, self.k, self.min_share = reference, p.field, p.k, p.min_share
            self.equals = p.equals

    def neighbor_votes(self, nn: np.ndarray) -> np.ndarray:
        if nn.shape[1] == 0:  # a one-ticket reference has no neighbours
            return np.zeros(len(nn), dtype=bool)
        share = (self.ref.values(self.field)[nn] == self.equals).sum(axis=1) / nn.shape[1]
        return share >= self.min_share - 1e-12

    def _text_vote(self, t) -> bool:
        if not isinstance(t, str):  # a missing text matches nothing (ingest quarantines those rows)
            return False
        b = to_utf8(t)
        return self._utf8_vote(b, text_tier(t, b))

    def _utf8_vote(self, b: bytes, tier: int) -> bool:
        return all(r.match(b, tier) for r in self.must) and not (self.exclude and self.exclude.match(b, tier))

    def match_span(self, text) -> tuple[int, int] | None:
        """Character offsets of what a keyword or regex LF matched in ``text`` (its first phrase or
        pattern), when it votes on the text; None otherwise, and for every other kind."""
        if self.kind not in ("keyword", "regex") or not self._text_vote(text) or not self.must:
            return None
        b = to_utf8(text)
        m = self.must[0]
        found = m.span(b, text_tier(text, b)) if isinstance(m, PhraseMatcher) else m.span_bytes(b)
        if found is None:
            return None
        start = len(b[:found[0]].decode("utf-8", "surrogatepass"))
        return start, start + len(b[found[0]:found[1]].decode("utf-8", "surrogatepass"))

    # --- row-wise (snorkel) -------------------------------------------------------------
    def row_vote(self, x) -> int:
        if self.kind in ("keyword", "regex"):
            ok = self._text_vote(x.text)
        elif self.kind == "exemplar":
            sims = np.round(self.ex_emb @ np.asarray(x._emb, dtype=np.float64), SIM_DECIMALS)
            sims = np.where([i is not None and i == x.ticket_id for i in self.ex_ids], -np.inf, sims)
            ok = bool(sims.max() >= self.threshold)
        elif self.kind == "neighbor":
            nn = self.ref.neighbors(np.asarray(x._emb)[None, :], [x.ticket_id], self.k)
            ok = bool(self.neighbor_votes(nn)[0])
        else:
            ok = _field_value(x, self.field) in self.values
        return self.label if ok else ABSTAIN

    # --- vectorized ---------------------------------------------------------------------
    def column_votes(self, df: pd.DataFrame, meta: dict[str, pd.Series], index: TextIndex | None = None) -> np.ndarray:
        if self.kind in ("keyword", "regex"):
            index = index or TextIndex(df["text"].tolist())
            utf8, tiers = index.utf8, index.tiers
            rows = index.candidates(self.clauses)
            rows = range(len(utf8)) if rows is None else rows.tolist()
            hits = [i for i in rows if utf8[i] is not None and self._utf8_vote(utf8[i], tiers[i])]
            ok = np.zeros(len(df), dtype=bool)
            ok[hits] = True
        elif self.kind == "metadata":
            col = df[self.field] if self.field in df.columns else meta[self.field]
            ok = col.isin(self.values).to_numpy(dtype=bool)
        else:
            raise AssertionError("embedding LFs are applied in bulk")
        return np.where(ok, self.label, ABSTAIN).astype(np.int16)


def _field_value(x, field: str):
    if field in x.index:
        v = x[field]
    else:
        v = json.loads(x.metadata or "{}").get(field) if "metadata" in x.index else None
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def _meta_columns(df: pd.DataFrame, fields: set[str]) -> dict[str, pd.Series]:
    need = {f for f in fields if f not in df.columns}
    if not need:
        return {}
    parsed = [json.loads(m) if isinstance(m, str) and m else {} for m in df.get("metadata", [None] * len(df))]
    return {f: pd.Series([d.get(f) for d in parsed], index=df.index, dtype=object) for f in need}


def compile_lfs(specs: Sequence[LFSpec], tags: Sequence[str], embed: Embedder | None = None,
                reference: Reference | None = None) -> list[CompiledLF]:
    index = {t: i for i, t in enumerate(tags)}
    out = []
    ex_specs = [s for s in specs if s.kind == "exemplar"]
    ex_emb: dict[str, np.ndarray] = {}
    if ex_specs:
        if embed is None:
            raise ValueError("exemplar LFs need an embedder")
        texts = [t for s in ex_specs for t in s.params.texts]
        emb = embed(texts)
        k = 0
        for s in ex_specs:
            n = len(s.params.texts)
            ex_emb[s.id] = emb[k:k + n]
            k += n
    for s in specs:
        if s.tag not in index:
            raise ValueError(f"LF {s.id}: tag {s.tag!r} is not in the tag list")
        out.append(CompiledLF(s, index[s.tag], ex_emb.get(s.id), reference))
    return out


def apply_lfs(df: pd.DataFrame, compiled: Sequence[CompiledLF], embeddings: np.ndarray | None = None) -> np.ndarray:
    """Label matrix ``(n_tickets, n_lfs)`` of int16, ``-1`` = abstain."""
    n = len(df)
    L = np.full((n, len(compiled)), ABSTAIN, dtype=np.int16)
    meta = _meta_columns(df, {c.field for c in compiled if c.kind == "metadata"})
    ex = [(j, c) for j, c in enumerate(compiled) if c.kind == "exemplar"]
    nb = [(j, c) for j, c in enumerate(compiled) if c.kind == "neighbor"]
    text_lfs = any(c.kind in ("keyword", "regex") for c in compiled)
    index = TextIndex(df["text"].tolist()) if text_lfs else None  # tokenized once, shared by all LFs
    for j, c in enumerate(compiled):
        if c.kind not in ("exemplar", "neighbor"):
            L[:, j] = c.column_votes(df, meta, index)
    if (ex or nb) and (embeddings is None or len(embeddings) != n):
        raise ValueError("exemplar and neighbor LFs need one embedding per ticket")
    ids = df["ticket_id"].to_numpy()
    nn_cache: dict[tuple[int, int], np.ndarray] = {}
    for j, c in nb:  # one k-NN search per (reference, k), shared by all neighbor LFs
        key = (id(c.ref), c.k)
        if key not in nn_cache:
            nn_cache[key] = c.ref.neighbors(np.asarray(embeddings), ids, c.k)
        L[:, j] = np.where(c.neighbor_votes(nn_cache[key]), c.label, ABSTAIN)
    if ex:
        X = np.asarray(embeddings, dtype=np.float64)
        pos = {t: i for i, t in enumerate(ids)}
        for j, c in ex:
            L[:, j] = np.where(exemplar_similarity(X, pos, c.ex_emb, c.ex_ids) >= c.threshold, c.label, ABSTAIN)
    return L


def exemplar_similarity(X: np.ndarray, pos: dict, ex_emb: np.ndarray, ex_ids) -> np.ndarray:
    """Each row's highest cosine to the exemplars (rounded to ``SIM_DECIMALS``), leave-one-out: a
    ticket whose id (``pos``: id -> row of ``X``) is an exemplar's id never matches that exemplar."""
    sims = np.round(np.asarray(X, dtype=np.float64) @ np.asarray(ex_emb, dtype=np.float64).T, SIM_DECIMALS)
    for k, eid in enumerate(ex_ids):
        if eid is not None and eid in pos:
            sims[pos[eid], k] = -np.inf
    return sims.max(axis=1) if sims.shape[1] else np.full(len(X), -np.inf)


def to_snorkel_lfs(compiled: Sequence[CompiledLF]):
    """Snorkel ``LabelingFunction`` objects with the same votes (rows need ``_emb`` for exemplar LFs)."""
    from snorkel.labeling import LabelingFunction

    return [LabelingFunction(name=c.spec.id, f=c.row_vote) for c in compiled]


def with_embeddings(df: pd.DataFrame, embeddings: np.ndarray) -> pd.DataFrame:
    """A copy of ``df`` with an ``_emb`` column for row-wise (snorkel) application of exemplar LFs."""
    out = df.copy()
    out["_emb"] = list(np.asarray(embeddings, dtype=np.float32))
    return out
