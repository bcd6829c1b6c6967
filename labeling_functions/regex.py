"""The LF regex engine and its gate: patterns compiled by RE2 and checked before they become LFs.

- :class:`LinearRegex` / :func:`compiled_regex`: a pattern compiled by RE2 on UTF-8 bytes, whose
  search time is linear in the text (never Python's backtracking ``re``); picklable for Dask workers.
- :func:`unsupported_construct`: names the first construct RE2 lacks (lookaround, backreferences,
  atomic groups, possessive quantifiers, conditionals, ``\\Z``, inline flags other than ``imsU``).
- :func:`python_view` / :func:`python_parse`: the pattern as Python's parser reads it, for the
  structural checks here and the literal prefilter (:mod:`labeling_functions.prefilter`).
- :func:`check_regex`: the gate every LF pattern passes: length, RE2 support and compilation, program
  size, catastrophic-backtracking shapes, and a ``\\b`` next to a non-ASCII letter (RE2's ``\\b``,
  ``\\w``, ``\\d`` and ``\\s`` are ASCII-only, so such a boundary could never match). Its refusals are
  :class:`UnsafeRegex`, :class:`UnsupportedRegex` and :class:`RegexSyntaxError`.
"""
from __future__ import annotations

import re  # reads pattern text (lexing, Python's parse tree); LF patterns are matched by RE2 only
import re._parser as sre_parse
import warnings
from functools import cache, lru_cache

import re2

MAX_REGEX_LEN = 300  # stricter than the LF spec's field bound (MAX_PATTERN_LEN): what check_regex allows
MAX_PROGRAM_SIZE = 20_000  # RE2 instructions: bounds the per-byte cost when RE2 falls back to its NFA
_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)}


class UnsafeRegex(ValueError):
    """A pattern the gate refuses: too long, too large a program, or a catastrophic-backtracking shape."""


class UnsupportedRegex(UnsafeRegex):
    """A construct the linear-time engine (RE2) does not have, or one that can never match there."""


class RegexSyntaxError(UnsafeRegex):
    """RE2 cannot compile the pattern and no known construct explains why."""


# --- the engine: RE2 on UTF-8 bytes -------------------------------------------------------------

_UNANCHORED = re2._Anchor.UNANCHORED


@cache
def _options(ignore_case: bool) -> re2.Options:
    o = re2.Options()
    o.case_sensitive = not ignore_case
    o.never_capture = True  # a vote needs only "is there a match"
    o.log_errors = False
    return o


def to_utf8(text: str) -> bytes:
    """The bytes RE2 searches (lone surrogates pass through, so no text ever raises)."""
    return text.encode("utf-8", "surrogatepass")


class LinearRegex:
    """An LF pattern compiled by RE2: search time is linear in the text; there is no fallback to ``re``.

    Picklable (it recompiles from ``pattern``), so compiled LFs travel to Dask workers."""

    __slots__ = ("_re", "ignore_case", "pattern")

    def __init__(self, pattern: str, ignore_case: bool = True):
        self.pattern, self.ignore_case = pattern, ignore_case
        try:
            encoded = pattern.encode("utf-8")
        except UnicodeEncodeError as e:
            raise RegexSyntaxError(f"pattern is not valid Unicode text: {e}") from None
        self._re = re2._re2.RE2(encoded, _options(ignore_case))
        if not self._re.ok():
            raise RegexSyntaxError(self._re.error().decode("utf-8", "replace"))

    def search_bytes(self, data: bytes) -> bool:
        return self._re.Match(_UNANCHORED, data, 0, len(data))[0][0] != -1

    def search(self, text: str) -> bool:
        return self.search_bytes(to_utf8(text))

    def span_bytes(self, data: bytes) -> tuple[int, int] | None:
        """Byte offsets of the leftmost match in ``data``, or None (for showing a hit, not for voting)."""
        start, end = self._re.Match(_UNANCHORED, data, 0, len(data))[0]
        return None if start == -1 else (start, end)

    def match(self, data: bytes, tier: int) -> bool:
        """:meth:`search_bytes`; the text's tier does not change what an LF regex means."""
        return self.search_bytes(data)

    @property
    def program_size(self) -> int:
        return self._re.ProgramSize()

    def __reduce__(self):
        return LinearRegex, (self.pattern, self.ignore_case)

    def __repr__(self) -> str:
        return f"LinearRegex({self.pattern!r}, ignore_case={self.ignore_case})"


@lru_cache(maxsize=4096)
def compiled_regex(pattern: str, ignore_case: bool = True) -> LinearRegex:
    """:class:`LinearRegex`, shared: validation, the gate and the applier compile a pattern once."""
    return LinearRegex(pattern, ignore_case)


# --- reading pattern text -----------------------------------------------------------------------

_ESCAPE = re.compile(
    r"\\(?:[pPxN]\{[^}]*\}|[pP].|x[0-9A-Fa-f]{0,2}|u[0-9A-Fa-f]{0,4}|U[0-9A-Fa-f]{0,8}|[0-7]{1,3}|.)", re.DOTALL)
_GROUP = re.compile(r"\(\?(?:P?<[A-Za-z_]\w*>|P=|<=|<!|[=!>#(]|[A-Za-z-]*[:)])")
_COUNT = re.compile(r"\{\d+(?:,\d*)?\}")
_GROUP_CONSTRUCTS = {"(?=": "lookahead `(?=...)`", "(?!": "negative lookahead `(?!...)`",
                     "(?<=": "lookbehind `(?<=...)`", "(?<!": "negative lookbehind `(?<!...)`",
                     "(?>": "atomic group `(?>...)`", "(?P=": "named backreference `(?P=name)`",
                     "(?(": "conditional group `(?(id)yes|no)`", "(?#": "comment group `(?#...)`"}
_RE2_FLAGS = set("imsU-")


def _escape_end(pattern: str, i: int) -> int:
    m = _ESCAPE.match(pattern, i)
    return m.end() if m else len(pattern)


def _class_end(pattern: str, i: int) -> int:
    """End of the character class opening at ``pattern[i] == '['``."""
    j = i + 1
    j += pattern.startswith("^", j)
    j += pattern.startswith("]", j)
    while j < len(pattern):
        if pattern[j] == "\\":
            j = _escape_end(pattern, j)
        elif pattern.startswith("[:", j) and pattern.find(":]", j + 2) != -1:
            j = pattern.find(":]", j + 2) + 2
        elif pattern[j] == "]":
            return j + 1
        else:
            j += 1
    return len(pattern)


def _lex(pattern: str):
    """``(kind, text)`` tokens: ``escape``, ``class``, ``group`` (a ``(?...`` opening), ``quant``, ``char``."""
    i = 0
    while i < len(pattern):
        c, m = pattern[i], None
        if c == "\\":
            kind, j = "escape", _escape_end(pattern, i)
        elif c == "[":
            kind, j = "class", _class_end(pattern, i)
        elif c == "(" and (m := _GROUP.match(pattern, i)):
            kind, j = "group", m.end()
        elif c in "*+?":
            kind, j = "quant", i + 1
        elif c == "{" and (m := _COUNT.match(pattern, i)):
            kind, j = "quant", m.end()
        else:
            kind, j = "char", i + 1
        yield kind, pattern[i:j]
        i = j


def _group_construct(text: str) -> str | None:
    for prefix, name in _GROUP_CONSTRUCTS.items():
        if text.startswith(prefix):
            return name
    bad = sorted(set(text[2:-1]) - _RE2_FLAGS) if not text.startswith(("(?P<", "(?<")) else []
    return f"inline flag {', '.join(bad)} in `{text}` (RE2 has only i, m, s and U)" if bad else None


def _escape_construct(text: str) -> str | None:
    if re.fullmatch(r"\\[1-9]", text):
        return f"backreference `{text}`"
    if text == "\\Z":
        return "`\\Z` (write end of text as `\\z`)"
    if text[1:2] in ("u", "U", "N"):
        return f"Python escape `{text}` (write a code point as `\\x{{0430}}`)"
    return None


def unsupported_construct(pattern: str) -> str | None:
    """Name the first construct of ``pattern`` that RE2 does not support, or None."""
    prev = None
    for kind, text in _lex(pattern):
        found = None
        if kind == "group":
            found = _group_construct(text)
        elif kind == "escape":
            found = _escape_construct(text)
        elif kind == "quant" and text == "+" and prev == "quant":
            found = "possessive quantifier (`*+`, `++`, `?+`, `{n}+`)"
        if found:
            return f"{found} is not supported by the linear-time regex engine (RE2)"
        prev = kind
    return None


_PY_VIEW = re.compile(
    r"\\[pP]\{[^}]*\}|\\[pP].|\\x\{([0-9A-Fa-f]{1,6})\}|\\z|\\.|\[:\^?[a-z]+:\]|\(\?<(?=[A-Za-z_])", re.DOTALL)


def _py_token(m: re.Match) -> str:
    t = m.group()
    if t[:2] in ("\\p", "\\P") or t.startswith("[:"):
        return "\\W"  # a class stays a class: it never adds or removes a literal
    if m.group(1):
        return f"\\U{int(m.group(1), 16):08x}"
    return {"\\z": "\\Z", "(?<": "(?P<"}.get(t, t)


def python_view(pattern: str) -> str:
    """``pattern`` rewritten so Python's parser reads the same literals and structure: RE2's ``\\p{..}``
    and POSIX classes become ``\\W``, ``\\x{..}`` a code point, ``\\z`` ``\\Z``, ``(?<name>`` ``(?P<name>``."""
    return _PY_VIEW.sub(_py_token, pattern)


def python_parse(pattern: str):
    """Python's parse tree of :func:`python_view`, or None where Python cannot read the pattern."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(sre_parse.parse(python_view(pattern)))
    except Exception:  # noqa: BLE001 - RE2-only syntax: no structure to read, RE2 still compiled it
        return None


# --- safety checks --------------------------------------------------------------------------


def _walk(items, inside_repeat: bool):
    """Reject unbounded repetition nested in any repetition of more than 3, and repeated alternation.

    RE2 runs these in linear time too; they stay rejected because any backtracking engine an LF is
    copied into (an analyst's notebook, another tool) would hang on them."""
    for op, av in items:
        if op in _REPEATS:
            _lo, hi, sub = av
            unbounded = hi == sre_parse.MAXREPEAT or hi > 100
            if unbounded and inside_repeat:
                raise UnsafeRegex("nested unbounded repetition (catastrophic backtracking)")
            if hi > 3 and _has_unbounded(sub):
                raise UnsafeRegex("nested unbounded repetition (catastrophic backtracking)")
            if unbounded and any(o == sre_parse.BRANCH for o, _ in _flatten(sub)):
                raise UnsafeRegex("repeated alternation (catastrophic backtracking)")
            _walk(sub, inside_repeat or hi > 3)
        elif op == sre_parse.SUBPATTERN:
            _walk(av[-1], inside_repeat)
        elif op == sre_parse.BRANCH:
            for b in av[1]:
                _walk(b, inside_repeat)


def _has_unbounded(items) -> bool:
    for op, av in _flatten(items):
        if op in _REPEATS and (av[1] == sre_parse.MAXREPEAT or av[1] > 100 or _has_unbounded(av[2])):
            return True
        if op == sre_parse.BRANCH and any(_has_unbounded(b) for b in av[1]):
            return True
    return False


def _flatten(items):
    for op, av in items:
        yield op, av
        if op == sre_parse.SUBPATTERN:
            yield from _flatten(av[-1])


def _non_ascii_letter(op, av) -> str | None:
    """A non-ASCII letter this item matches literally (a literal, or a literal in a class)."""
    if op == sre_parse.IN and any(o == sre_parse.NEGATE for o, _ in av):
        return None
    cps = [av] if op == sre_parse.LITERAL else [a for o, a in av if o == sre_parse.LITERAL] if op == sre_parse.IN else []
    return next((chr(c) for c in cps if c > 127 and chr(c).isalpha()), None)


def _edge(items, last: bool) -> list:
    """The items that can stand first (or last) in a sequence, looking into groups and branches."""
    if not items:
        return []
    op, av = items[-1 if last else 0]
    if op == sre_parse.SUBPATTERN:
        return _edge(list(av[-1]), last)
    if op == sre_parse.BRANCH:
        return [x for b in av[1] for x in _edge(list(b), last)]
    return [(op, av)]


def _ascii_boundary_misuse(items) -> str | None:
    """The non-ASCII letter next to a ``\\b`` / ``\\B`` (RE2's are ASCII-only: that one never works)."""
    boundary = (sre_parse.AT, sre_parse.AT_BOUNDARY), (sre_parse.AT, sre_parse.AT_NON_BOUNDARY)
    for k, (op, av) in enumerate(items):
        if (op, av) in boundary:
            near = _edge(items[:k], last=True) + _edge(items[k + 1:], last=False)
            letter = next((c for o, a in near if (c := _non_ascii_letter(o, a))), None)
            if letter:
                return letter
        subs = [list(av[-1])] if op == sre_parse.SUBPATTERN else [list(b) for b in av[1]] if op == sre_parse.BRANCH \
            else [list(av[2])] if op in _REPEATS else []
        for sub in subs:
            if found := _ascii_boundary_misuse(sub):
                return found
    return None


def check_regex(pattern: str, ignore_case: bool = True) -> LinearRegex:
    """The compiled RE2 pattern, or :class:`UnsafeRegex` naming why it cannot be an LF pattern:
    too long, an unsupported construct (:class:`UnsupportedRegex`), not compilable
    (:class:`RegexSyntaxError`), too large a program, or a catastrophic-backtracking shape."""
    if len(pattern) > MAX_REGEX_LEN:
        raise UnsafeRegex(f"pattern longer than {MAX_REGEX_LEN} characters")
    construct = unsupported_construct(pattern)
    if construct:
        raise UnsupportedRegex(construct)
    compiled = compiled_regex(pattern, ignore_case)
    if compiled.program_size > MAX_PROGRAM_SIZE:
        raise UnsafeRegex(f"compiles to {compiled.program_size} RE2 instructions, more than {MAX_PROGRAM_SIZE} "
                          "(too large a counted repetition)")
    parsed = python_parse(pattern)
    if parsed is not None:
        _walk(parsed, False)
        letter = _ascii_boundary_misuse(parsed)
        if letter:
            raise UnsupportedRegex(f"`\\b` next to the non-ASCII letter {letter!r} is not a word boundary in RE2, whose "
                                   "\\b and \\w are ASCII-only (use a keyword LF, or (?:^|[^\\p{L}]) ... (?:[^\\p{L}]|$))")
    return compiled
