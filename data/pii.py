"""PII masking: personal data becomes typed placeholders before text is modelled, stored or sent anywhere.

Placeholders (one per type):

- ``[EMAIL]``    e-mail addresses, also obfuscated ones (``john [at] example [dot] com``,
  ``ivan собака mail точка ru``) and typo-ed domains (``x@mailde``)
- ``[IBAN]``     IBANs in any case, grouped or not: a known IBAN country's code (up to that country's
  length, checksum or not) or any code with a valid mod-97 checksum
- ``[CARD]``     every 13-19 digit card-like run, whatever its Luhn result, grouped by single or double
  spaces or dashes, glued to letters or followed by another number
- ``[ACCOUNT]``  account numbers: 20-digit (Russian) accounts and other long digit runs (9+ digits)
  that are no other type
- ``[PHONE]``    international (``+44 7123 456789``), Russian (``+7 (916) 123-45-67``,
  ``8-916-123-45-67``, ``89161234567``), national and US-style numbers
- ``[PASSPORT]`` Russian passport series and number (``45 08 123456``, ``4508 123456``,
  ``серия 4508 номер 123456``, a bare ``4508123456`` after "паспорт")
- ``[SNILS]``    ``112-233-445 95`` (and 11 bare digits with a valid SNILS checksum)
- ``[INN]``      10 and 12 digit taxpayer numbers with a valid INN checksum (or after "ИНН")
- ``[DOC_ID]``   document-like ids such as ``AB1234567``
- ``[NAME]``     full Russian names with a patronymic (``Иванов Иван Иванович``, ``Анна Сергеевна``)

Left alone (tested on a battery of plain sentences): order and contract ids (``2024-000123``,
``ORD-55821``), dates, times, amounts (``1 250,00 руб``, ``$1,234.56``) and reference numbers of at
most 8 digits.

Every pattern runs on RE2 (``google-re2``): no backtracking, so masking time is linear in the text's
length. Each pass below is one left-to-right scan; the digit runs are classified in Python, linearly
in their length.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

import re2

from data.pii_checksums import _iban_prefixes_ok, iban_ok, inn_ok, luhn_ok, snils_ok  # noqa: F401

PLACEHOLDERS = ("EMAIL", "IBAN", "CARD", "ACCOUNT", "PHONE", "PASSPORT", "SNILS", "INN", "DOC_ID", "NAME")

_SPACE_CHARS = " \t\u00a0\u2007\u2009\u202f\u200b\u200c\u200d\u2060\ufeff"  # no-break, thin, zero-width
_DASH_CHARS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SP = f"[{_SPACE_CHARS}]"
_DASH = f"[\\{_DASH_CHARS}]"
_SEP = f"(?:{_SP}|{_DASH})"
_ENDS = "(?:\\[|\\(|\\{|<)"
_CLOSE = "(?:\\]|\\)|\\}|>)"

# --- e-mails -------------------------------------------------------------------------------------
_LOCAL = "[\\p{L}\\p{N}._%+\\-]+"
_LABEL = "[\\p{L}\\p{N}\\-]+"
_AT = (f"(?:[ \\t]*{_ENDS}[ \\t]*(?:at|собака|dog)[ \\t]*{_CLOSE}[ \\t]*"
       "|[ \\t]+(?:at|собака)[ \\t]+|[ \\t]*@[ \\t]*)")
_DOT = f"(?:[ \\t]*{_ENDS}[ \\t]*(?:dot|точка)[ \\t]*{_CLOSE}[ \\t]*|[ \\t]+(?:dot|точка)[ \\t]+|\\.)"
# on UTF-8 bytes: a rejected candidate is searched again from its domain, without re-encoding the text
_EMAIL_OBF = re2.compile(f"(?i){_LOCAL}{_AT}({_LABEL}(?:{_DOT}{_LABEL})+)".encode())
_EMAIL = re2.compile(f"{_LOCAL}@{_LABEL}(?:\\.{_LABEL})*")  # also typo-ed domains like "x@mailde"
_MAIL_PROVIDERS = frozenset("""gmail googlemail yandex ya mail inbox list bk rambler outlook hotmail live yahoo
                               icloud me proton protonmail gmx web aol zoho""".split())
_TLDS = frozenset("""com ru net org info io de uk co biz me ua kz by su рф edu gov mail fr es it nl pl ch at
                     eu us ca au cn jp in br tr cz lv lt ee fi se no dk online site pro tech""".split())

# --- IBAN ----------------------------------------------------------------------------------------
_IBAN = re2.compile("(?i)\\b[a-z]{2}[0-9]{2}(?:[ \\-]?[a-z0-9]{4}){2,7}(?:[ \\-]?[a-z0-9]{1,4})?\\b")
_IBAN_LENGTHS = {  # IBAN countries a support desk sees most; other codes are masked when mod-97 passes
    "AD": 24, "AE": 23, "AT": 20, "AZ": 28, "BE": 16, "BG": 22, "BY": 28, "CH": 21, "CY": 28, "CZ": 24,
    "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GE": 22, "GR": 27, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IT": 27, "KZ": 20, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SE": 24, "SI": 19,
    "SK": 24, "TR": 26, "UA": 29,
}

# --- names, documents ----------------------------------------------------------------------------
_WORD = "[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
_PATRONYMIC = ("[А-ЯЁ][а-яё]*?(?:(?:ович|евич|ьич|ич)(?:а|у|ем|е)?|(?:овн|евн|ичн|иничн)(?:а|ы|е|у|ой))")
_NSP = "[ \\t\\x{a0}]+"
# (boundary)(surname? first-name patronymic surname?)(boundary): RE2 has no lookaround, so the
# boundary characters are captured and written back.
_NAME = re2.compile(f"(^|[^\\p{{L}}])((?:{_WORD}{_NSP})?{_WORD}{_NSP}{_PATRONYMIC}(?:{_NSP}{_WORD})?)([^\\p{{L}}]|$)")
_PASSPORT_WORDS = re2.compile(  # "серия 4508 номер 123456", "45 08 №123456"
    f"(?i)(?:(?:серия|series){_SP}*[0-9]{{2}}{_SP}?[0-9]{{2}}{_SP}*,?{_SP}*(?:номер|№|no\\.?|number|#)"
    f"|\\b[0-9]{{2}}{_SP}?[0-9]{{2}}{_SP}*(?:№|#|N{_SP}))"
    f"{_SP}*[0-9]{{6}}")
_DOC_ID = re2.compile("\\b[A-Z]{1,3}[0-9]{6,9}\\b")
# dots join digit groups only in these shapes (dates, times, amounts and versions use dots too)
_DOTTED_CARD = re2.compile("\\b[0-9]{4}\\.[0-9]{4}\\.[0-9]{4}\\.[0-9]{1,7}\\b")
_DOTTED_PHONE = re2.compile("\\b[0-9]{3}\\.[0-9]{3}\\.[0-9]{4}\\b")

# --- digit runs ----------------------------------------------------------------------------------
# a run of >= 7 digits, grouped by up to three spaces/dashes, with an optional "+" and "(area)"
_RUN = re2.compile(f"(?:\\+{_SP}?)?\\(?\\p{{Nd}}(?:(?:{_SEP}{{1,3}}|{_SEP}{{0,2}}\\(|\\){_SEP}{{0,2}})?\\p{{Nd}}){{6,}}\\)?")
_CONTEXT = 40  # characters before a run that can name its type ("паспорт 4508123456")
_CONTEXT_WORDS = re2.compile(
    "(?i)(паспорт|passport|снилс|snils|инн|\\binn\\b|\\btin\\b|taxpayer|телефон|\\bтел\\b|phone|mobile|\\bcall\\b|"
    "звон|номер счета|номер счёта|сч[её]т|account|карт|\\bcard\\b)")
_CONTEXT_KIND = (("паспорт", "PASSPORT"), ("passport", "PASSPORT"), ("снилс", "SNILS"), ("snils", "SNILS"),
                 ("инн", "INN"), ("inn", "INN"), ("tin", "INN"), ("taxpayer", "INN"), ("тел", "PHONE"),
                 ("phone", "PHONE"), ("mobile", "PHONE"), ("call", "PHONE"), ("звон", "PHONE"),
                 ("сч", "ACCOUNT"), ("account", "ACCOUNT"), ("карт", "CARD"), ("card", "CARD"))


# --- e-mails, IBANs, names -----------------------------------------------------------------------

def _mask_obfuscated_emails(text: str) -> str:
    """``john [at] example [dot] com``, ``ivan собака mail точка ru``, ``john.doe at gmail.com`` -> ``[EMAIL]``.
    A rejected candidate ("me at john.doe") is retried from its domain, which may start a real address."""
    data = text.encode("utf-8")
    pieces, pos, start = [], 0, 0
    while True:
        m = _EMAIL_OBF.search(data, start)
        if m is None:
            break
        if _is_email(m.group(0).decode("utf-8")):
            pieces += [data[pos:m.start()], b"[EMAIL]"]
            pos = start = m.end()
        else:
            start = m.start(1)
    if not pieces:
        return text
    pieces.append(data[pos:])
    return b"".join(pieces).decode("utf-8")


def _is_email(s: str) -> bool:
    """Is a candidate an address? Not when it is only words ("look at this dot com") unless its
    top-level domain is real and the dot is spelled out; "@", a bracketed "[at]"/"(dot)" or "собака"
    always mark one; a plain "at" with a real dot only at a known mail provider."""
    low = s.lower()
    if "@" in low or "собака" in low or any(c in low for c in "[({<"):
        return True
    i = len(low)
    while i > 0 and (low[i - 1].isalnum() or low[i - 1] == "-"):
        i -= 1
    if (" dot " in low or " точка " in low) and low[i:] in _TLDS:
        return True
    domain = low.rsplit(" at ", 1)[-1].strip()
    return domain.split(".")[0] in _MAIL_PROVIDERS


def _iban_sub(m) -> str:
    """An IBAN-shaped run is masked when its country is a known IBAN country (up to that country's
    length, checksum or not: a mistyped IBAN is still personal data), or else when it passes mod-97."""
    s = m.group(0)
    compact = [i for i, ch in enumerate(s) if ch.isalnum()]  # positions of the IBAN's characters
    chars = "".join(s[i] for i in compact).upper()
    expected = _IBAN_LENGTHS.get(chars[:2])
    if expected:
        n = min(expected, len(chars))
        return "[IBAN]" + s[compact[n - 1] + 1:]
    ok = _iban_prefixes_ok(chars)  # ok[k]: chars[:k + 5] passes
    for n in range(len(chars), 14, -1):  # the longest prefix that passes
        if ok[n - 5]:
            return "[IBAN]" + s[compact[n - 1] + 1:]
    return s


def _name_sub(m) -> str:
    return f"{m.group(1)}[NAME]{m.group(3)}"


# --- digit runs ----------------------------------------------------------------------------------

class _Run:
    """A digit run cut into groups: ``+7 (916) 123-45-67`` -> 7 | (916) | 123 | 45 | 67."""

    __slots__ = ("text", "context", "digits", "lens", "starts", "ends", "paren", "dashed", "plus")

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
_DASH_SET = frozenset(_DASH_CHARS)


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


def _mask_runs(text: str) -> str:
    pieces, pos = [], 0
    for m in _RUN.finditer(text):
        start, end = m.span()
        pieces.append(text[pos:start])
        pieces.append(_classify_run(m.group(0), text[max(0, start - _CONTEXT):start]))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def mask_pii(text: str) -> str:
    """Return ``text`` with e-mails, IBANs, names, documents, cards, phones and account numbers masked.

    Linear in ``len(text)``; idempotent (a masked text is returned unchanged).
    """
    if not text:
        return text
    text = _encodable(text)
    text = _mask_obfuscated_emails(text)
    text = _EMAIL.sub("[EMAIL]", text)
    text = _IBAN.sub(_iban_sub, text)
    text = _DOC_ID.sub("[DOC_ID]", text)
    # twice: a match consumes the character after a name, which the next name would need before it
    text = _NAME.sub(_name_sub, _NAME.sub(_name_sub, text))
    text = _PASSPORT_WORDS.sub("[PASSPORT]", text)
    text = _DOTTED_CARD.sub("[CARD]", text)
    text = _DOTTED_PHONE.sub("[PHONE]", text)
    return _mask_runs(text)


def _encodable(text: str) -> str:
    """``text`` as valid UTF-8 (RE2 reads UTF-8): lone surrogates, e.g. undecodable bytes read with
    ``surrogateescape``, become ``\\xNN`` escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "backslashreplace")


def mask_value(value: Any) -> Any:
    """``value`` with :func:`mask_pii` applied to every string inside it (dicts and lists are walked);
    an integer whose digits are PII (a phone or card stored as a number) becomes its masked string."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e8:
        value = int(value)  # a phone or account read as a float column
    if isinstance(value, int) and not isinstance(value, bool):
        s = str(value)
        masked = mask_pii(s)
        return value if masked == s else masked
    return value
