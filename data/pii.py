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
length. Each pass of :func:`mask_pii` is one left-to-right scan; the digit runs are classified in
Python, linearly in their length.

This module is the masking engine (the passes in order, e-mail and IBAN decisions, values walked);
the patterns are in :mod:`data.pii_patterns`, the digit-run typing in :mod:`data.pii_runs` and the
checksums in :mod:`data.pii_checksums`.
"""
from __future__ import annotations

from typing import Any

from data.pii_checksums import _iban_prefixes_ok, iban_ok, inn_ok, luhn_ok, snils_ok  # noqa: F401
from data.pii_patterns import (
    DOC_ID,
    DOTTED_CARD,
    DOTTED_PHONE,
    EMAIL,
    EMAIL_OBF,
    IBAN,
    IBAN_LENGTHS,
    MAIL_PROVIDERS,
    NAME,
    PASSPORT_WORDS,
    TLDS,
)
from data.pii_runs import mask_runs

PLACEHOLDERS = ("EMAIL", "IBAN", "CARD", "ACCOUNT", "PHONE", "PASSPORT", "SNILS", "INN", "DOC_ID", "NAME")


# --- e-mails, IBANs, names -----------------------------------------------------------------------

def _mask_obfuscated_emails(text: str) -> str:
    """``john [at] example [dot] com``, ``ivan собака mail точка ru``, ``john.doe at gmail.com`` -> ``[EMAIL]``.
    A rejected candidate ("me at john.doe") is retried from its domain, which may start a real address."""
    data = text.encode("utf-8")
    pieces, pos, start = [], 0, 0
    while True:
        m = EMAIL_OBF.search(data, start)
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
    if (" dot " in low or " точка " in low) and low[i:] in TLDS:
        return True
    domain = low.rsplit(" at ", 1)[-1].strip()
    return domain.split(".")[0] in MAIL_PROVIDERS


def _iban_sub(m) -> str:
    """An IBAN-shaped run is masked when its country is a known IBAN country (up to that country's
    length, checksum or not: a mistyped IBAN is still personal data), or else when it passes mod-97."""
    s = m.group(0)
    compact = [i for i, ch in enumerate(s) if ch.isalnum()]  # positions of the IBAN's characters
    chars = "".join(s[i] for i in compact).upper()
    expected = IBAN_LENGTHS.get(chars[:2])
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


def mask_pii(text: str) -> str:
    """Return ``text`` with e-mails, IBANs, names, documents, cards, phones and account numbers masked.

    Linear in ``len(text)``; idempotent (a masked text is returned unchanged).
    """
    if not text:
        return text
    text = _encodable(text)
    text = _mask_obfuscated_emails(text)
    text = EMAIL.sub("[EMAIL]", text)
    text = IBAN.sub(_iban_sub, text)
    text = DOC_ID.sub("[DOC_ID]", text)
    # twice: a match consumes the character after a name, which the next name would need before it
    text = NAME.sub(_name_sub, NAME.sub(_name_sub, text))
    text = PASSPORT_WORDS.sub("[PASSPORT]", text)
    text = DOTTED_CARD.sub("[CARD]", text)
    text = DOTTED_PHONE.sub("[PHONE]", text)
    return mask_runs(text)


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
