"""PII masking: personal data becomes typed placeholders before text is modelled or sent anywhere.

Placeholders: ``[EMAIL]``, ``[CARD]`` (Luhn-checked 13-19 digit numbers), ``[IBAN]``,
``[PHONE]``, ``[ACCOUNT]`` (long digit runs that are not cards), ``[DOC_ID]`` (passport /
document-like ids such as ``AB1234567``).
"""
from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*")  # also typo-ed domains like "x@mailde"
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
# 13-19 digits, optionally grouped by spaces or dashes.
_CARD = re.compile(r"(?<![\w])(?:\d[ -]?){12,18}\d(?![\w])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,6}(?:[ .-]\d{2,6}){1,4}(?![\w])|(?<![\w])\+\d{9,14}(?![\w])")
_ACCOUNT = re.compile(r"(?<![\w])\d{8,12}(?![\w])")
_DOC_ID = re.compile(r"\b[A-Z]{1,3}\d{6,9}\b")


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_sub(m: re.Match) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return "[CARD]"
    return m.group(0)


def _phone_sub(m: re.Match) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    # 9+ digits: phone numbers; shorter groups (dates, amounts) stay.
    return "[PHONE]" if len(digits) >= 9 else m.group(0)


def mask_pii(text: str) -> str:
    """Return ``text`` with e-mails, cards, IBANs, phones, account and document ids masked."""
    if not text:
        return text
    text = _EMAIL.sub("[EMAIL]", text)
    text = _IBAN.sub("[IBAN]", text)
    text = _CARD.sub(_card_sub, text)
    text = _PHONE.sub(_phone_sub, text)
    text = _ACCOUNT.sub("[ACCOUNT]", text)
    text = _DOC_ID.sub("[DOC_ID]", text)
    return text
