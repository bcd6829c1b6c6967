"""PII in digit runs: a run of 7 or more digits, grouped by spaces, dashes or ``(area)``, is cut into
its groups and each stretch of groups is typed as a card, phone, account, passport, SNILS or INN.

Shapes are tried in passes (a pass claims groups the later ones cannot take): first ``+`` phones and
card groupings, then ``(area)`` phones, SNILS / passport / phone layouts and exact phone lengths,
then 20-digit accounts in parts and any 13-19 digit stretch as a card. An ungrouped run left over is
typed by its length, its checksums (:mod:`data.pii_checksums`) and the words just before it
("паспорт 4508123456"); runs of 8 digits or fewer are left alone (references, codes).

Runs are found by RE2 and classified in Python, linearly in their length.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import re2

from data.pii_checksums import inn_ok, luhn_ok, snils_ok
from data.pii_patterns import DASH_CHARS, SEP, SP

# a run of >= 7 digits, grouped by up to three spaces/dashes, with an optional "+" and "(area)"
_RUN = re2.compile(f"(?:\\+{SP}?)?\\(?\\p{{Nd}}(?:(?:{SEP}{{1,3}}|{SEP}{{0,2}}\\(|\\){SEP}{{0,2}})?\\p{{Nd}}){{6,}}\\)?")
_CONTEXT = 40  # characters before a run that can name its type ("паспорт 4508123456")
_CONTEXT_WORDS = re2.compile(
    "(?i)(паспорт|passport|снилс|snils|инн|\\binn\\b|\\btin\\b|taxpayer|телефон|\\bтел\\b|phone|mobile|\\bcall\\b|"
    "звон|номер счета|номер счёта|сч[её]т|account|карт|\\bcard\\b)")
_CONTEXT_KIND = (("паспорт", "PASSPORT"), ("passport", "PASSPORT"), ("снилс", "SNILS"), ("snils", "SNILS"),
                 ("инн", "INN"), ("inn", "INN"), ("tin", "INN"), ("taxpayer", "INN"), ("тел", "PHONE"),
                 ("phone", "PHONE"), ("mobile", "PHONE"), ("call", "PHONE"), ("звон", "PHONE"),
                 ("сч", "ACCOUNT"), ("account", "ACCOUNT"), ("карт", "CARD"), ("card", "CARD"))


class _Run:
    """A digit run cut into groups: ``+7 (916) 123-45-67`` -> 7 | (916) | 123 | 45 | 67."""

    __slots__ = ("context", "dashed", "digits", "ends", "lens", "paren", "plus", "starts", "text")

    def __init__(self, text: str, context: str | None = None):
        self.text = text
        self.context = context         # the kind the words before the run name ("паспорт" -> PASSPORT)
        self.plus = text.startswith("+")
        found = list(_GROUP.finditer(text))  # a plain digit class: linear in Python's re as in RE2
        raw_starts = [m.start() for m in found]
        raw_ends = [m.end() for m in found]
        groups = [m.group(0) for m in found]
        # ASCII digits of each group; span of each group in the run, a "(" before and a ")" after included
        self.digits: list[str] = groups if text.isascii() else [_ascii_digits(g) for g in groups]
        self.lens: list[int] = [len(g) for g in groups]
        self.paren: list[bool] = [s > 0 and text[s - 1] == "(" for s in raw_starts]  # written as "(916)"
        self.starts: list[int] = [s - p for s, p in zip(raw_starts, self.paren)]
        self.ends: list[int] = [e + (p and text.startswith(")", e)) for e, p in zip(raw_ends, self.paren)]
        # the separator before the group has a dash
        self.dashed: list[bool] = [False][:len(groups)] + [not _DASH_SET.isdisjoint(text[e:s])
                                             for e, s in zip(raw_ends, raw_starts[1:])]

    def sizes(self, i: int, end: int, n: int) -> tuple[int, ...]:
        return tuple(self.lens[i:min(i + n, end)])


_GROUP = re.compile(r"\d+")  # str pattern: every Unicode decimal digit, as \p{Nd} in _RUN
_DASH_SET = frozenset(DASH_CHARS)


def _ascii_digits(group: str) -> str:
    return group if group.isascii() else "".join(str(unicodedata.decimal(c)) for c in group)

# A shape looks at the free groups [i, end) of a run and returns (groups it claims, placeholder kind).
Shape = Callable[[_Run, int, int], "tuple[int, str] | None"]


def _plus_phone(r: _Run, i: int, end: int) -> tuple[int, str] | None:
    """``+7 916 123 45 67``, ``+44 7123 456789``, ``+1 (555) 123-4567``: up to 15 digits after the plus."""
    if i != 0 or not r.plus:
        return None
    total, j = 0, 0
    while j < end and total + r.lens[j] <= 15:
        total += r.lens[j]
        j += 1
    return (j, "PHONE") if total >= 8 else None


def _card_shape(r: _Run, i: int, end: int) -> tuple[int, str] | None:
    """One 13-19 digit group, or 4-digit groups (Amex 4-6-5 / Diners 4-6-4 too) summing to 13-19."""
    n = r.lens[i]
    if 13 <= n <= 19:
        return 1, "CARD"
    if n != 4:
        return None
    if r.sizes(i, end, 3) in ((4, 6, 5), (4, 6, 4)):
        return 3, "CARD"
    if r.sizes(i, end, 5) == (4, 4, 4, 4, 4) and not (r.context == "CARD" and luhn_ok("".join(r.digits[i:i + 4]))):
        return 5, "ACCOUNT"  # a 20-digit account in fours ("4081 7810 0999 1000 4312"), all of it masked
    best, total, j = None, 0, i
    while j < end and total < 19:
        total += r.lens[j]
        j += 1
        if 13 <= total <= 19:
            best = j
        if r.lens[j - 1] != 4:  # only the last group may have another length
            break
    return (best - i, "CARD") if best else None


def _paren_phone(r: _Run, i: int, end: int) -> tuple[int, str] | None:
    """``8 (916) 123-45-67``, ``(495) 1234567``, ``(555) 123-4567``: from the trunk digit to 12 digits."""
    k = i + 1 if i + 1 < end and r.paren[i + 1] and r.lens[i] <= 3 else i
    if not r.paren[k] or not 2 <= r.lens[k] <= 5:
        return None
    total, j = 0, i
    while j < end and total + r.lens[j] <= 12:
        total += r.lens[j]
        j += 1
    return (j - i, "PHONE") if total >= 9 and j > k else None


def _doc_shapes(r: _Run, i: int, end: int) -> tuple[int, str] | None:
    """SNILS ``112-233-445 95``; passport ``45 08 123456`` / ``4508 123456`` / ``75 1234567``;
    phones ``555-123-4567``, ``916 123 45 67``, ``123-45-67``."""
    if not 2 <= r.lens[i] <= 4 or i + 1 >= end:
        return None
    four = r.sizes(i, end, 4)
    three, two = four[:3], four[:2]
    if four == (3, 3, 3, 2) and (r.dashed[i + 1] or snils_ok("".join(r.digits[i:i + 4]))):
        return 4, "SNILS"
    if three == (2, 2, 6):
        return 3, "PASSPORT"
    if two in ((4, 6), (2, 7)) and not r.dashed[i + 1]:  # "2024-000123" is an order id
        return 2, "PASSPORT"
    if three == (3, 3, 4):
        return 3, "PHONE"
    if four == (3, 3, 2, 2):
        return 4, "PHONE"
    if three == (3, 2, 2) and r.dashed[i + 1] and r.dashed[i + 2]:
        return 3, "PHONE"
    return None


def _exact_phone(r: _Run, i: int, end: int) -> tuple[int, str] | None:
    """Groups making a Russian number (11 digits: 7/8, then 3/4/8/9) or a trunk-0 national one (10-11)."""
    first = r.digits[i]
    if first[0] not in "780" or i + 1 >= end:
        return None
    total, j = 0, i
    while j < end and total < 11:
        total += r.lens[j]
        j += 1
    second = (first + r.digits[i + 1])[1]
    if total == 11 and first[0] in "78" and second in "3489":
        return j - i, "PHONE"
    if first[0] == "0" and len(first) >= 2:
        if total == 11:
            return j - i, "PHONE"
        if total - r.lens[j - 1] == 10:
            return j - 1 - i, "PHONE"
    return None


def _account_20(r: _Run, i: int, end: int) -> tuple[int, str] | None:
    """Groups summing to exactly 20 digits: a Russian account written in parts (``40817 810 0 9991 0004312``)."""
    total, j = 0, i
    while j < end and total < 20:
        total += r.lens[j]
        j += 1
    return (j - i, "ACCOUNT") if total == 20 and j - i > 1 else None


def _card_run(r: _Run, i: int, end: int) -> tuple[int, str] | None:
    """Any consecutive groups summing to 13-19 digits (the longest such run): ``4 1 1 1 ...``."""
    best, total, j = None, 0, i
    while j < end and total + r.lens[j] <= 19:
        total += r.lens[j]
        j += 1
        if total >= 13:
            best = j
    return (best - i, "CARD") if best else None


def _single(digits: str, context: str | None) -> str | None:
    """The kind of one ungrouped run of digits, or None for 8 digits or fewer (references, codes)."""
    n = len(digits)
    if n < 9:
        return None
    if 13 <= n <= 19:
        return "CARD"
    fits = {"PASSPORT": n == 10, "SNILS": n == 11, "INN": n in (10, 12), "PHONE": 10 <= n <= 12,
            "ACCOUNT": True, "CARD": False}
    if context and fits[context]:
        return context
    if n in (10, 12) and inn_ok(digits):
        return "INN"
    if n == 11 and digits[0] in "78" and digits[1] in "3489":
        return "PHONE"
    if n == 11 and snils_ok(digits):
        return "SNILS"
    if (n == 10 and digits[0] == "9") or (n in (10, 11) and digits[0] == "0"):
        return "PHONE"
    return "ACCOUNT"


# shape passes, in order; a pass claims groups that the later passes cannot take
_PASSES: tuple[tuple[Shape, ...], ...] = (
    (_plus_phone, _card_shape),
    (_paren_phone, _doc_shapes, _exact_phone),
    (_account_20, _card_run),
)


def _context_kind(before: str) -> str | None:
    """The type that the words just before a digit run name (the nearest one wins), or None."""
    last = None
    for m in _CONTEXT_WORDS.finditer(before):
        last = m.group(1).lower()
    if last is None:
        return None
    return next(kind for key, kind in _CONTEXT_KIND if key in last)


def _claim_shapes(r: _Run) -> list[tuple[int, int, str]]:
    """(first group, last group + 1, kind) of every shape found, passes in order; then the ungrouped
    long runs left over, with kind "" (typed by :func:`_single`)."""
    n_groups = len(r.lens)
    free = [True] * n_groups
    claims: list[tuple[int, int, str]] = []
    for shapes in _PASSES:
        i, end = 0, 0
        while i < n_groups:
            if not free[i]:
                i += 1
                continue
            if end <= i:  # the free stretch [i, end), found once per stretch
                end = i
                while end < n_groups and free[end]:
                    end += 1
            hit = None
            for shape in shapes:
                hit = shape(r, i, end)
                if hit:
                    break
            if hit is None:
                i += 1
                continue
            n, kind = hit
            claims.append((i, i + n, kind))
            free[i:i + n] = [False] * n
            i += n
    return claims + [(i, i + 1, "") for i in range(n_groups) if free[i] and r.lens[i] >= 9]


def _classify_run(text: str, context: str) -> str:
    """``text`` (a digit run found by ``_RUN``) with its PII parts replaced by placeholders."""
    r = _Run(text, _context_kind(context))
    resolved = []
    for a, b, kind in _claim_shapes(r):
        if not kind:  # an ungrouped long run: its kind may depend on the words before it
            kind = _single(r.digits[a], r.context)
            if kind is None:
                continue
        resolved.append((a, b, kind))
    if not resolved:
        return text
    resolved.sort()
    pieces, pos = [], 0
    for a, b, kind in resolved:
        start = 0 if a == 0 and r.plus else r.starts[a]
        pieces.append(text[pos:start])
        pieces.append(f"[{kind}]")
        pos = r.ends[b - 1]
    pieces.append(text[pos:])
    return "".join(pieces)


def mask_runs(text: str) -> str:
    """``text`` with the PII in every digit run replaced by typed placeholders."""
    pieces, pos = [], 0
    for m in _RUN.finditer(text):
        start, end = m.span()
        pieces.append(text[pos:start])
        pieces.append(_classify_run(m.group(0), text[max(0, start - _CONTEXT):start]))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)
