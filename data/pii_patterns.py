"""The RE2 patterns of PII masking's text passes, and the tables they consult.

- separators: the space and dash characters (no-break, thin and zero-width spaces, every dash) that
  may stand between the parts of a number (:data:`SP`, :data:`DASH_CHARS`, :data:`SEP`);
- e-mails: plain addresses (typo-ed domains too) and obfuscated ones (``john [at] example [dot] com``,
  ``ivan собака mail точка ru``), with the mail providers and top-level domains that tell an address
  from words;
- IBANs: the IBAN shape and the lengths of the IBAN countries a support desk sees most;
- names and documents: full Russian names with a patronymic, passport series and number written
  with words, document-like ids, and dotted card and phone numbers.

Every pattern is compiled by RE2 (``google-re2``), so each pass is one linear scan.
:mod:`data.pii` applies them in order; :mod:`data.pii_runs` types the digit runs left over.
"""
from __future__ import annotations

import re2

_SPACE_CHARS = " \t\u00a0\u2007\u2009\u202f\u200b\u200c\u200d\u2060\ufeff"  # no-break, thin, zero-width
DASH_CHARS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
SP = f"[{_SPACE_CHARS}]"
_DASH = f"[\\{DASH_CHARS}]"
SEP = f"(?:{SP}|{_DASH})"
_ENDS = "(?:\\[|\\(|\\{|<)"
_CLOSE = "(?:\\]|\\)|\\}|>)"

# --- e-mails -------------------------------------------------------------------------------------
_LOCAL = "[\\p{L}\\p{N}._%+\\-]+"
_LABEL = "[\\p{L}\\p{N}\\-]+"
_AT = (f"(?:[ \\t]*{_ENDS}[ \\t]*(?:at|собака|dog)[ \\t]*{_CLOSE}[ \\t]*"
       "|[ \\t]+(?:at|собака)[ \\t]+|[ \\t]*@[ \\t]*)")
_DOT = f"(?:[ \\t]*{_ENDS}[ \\t]*(?:dot|точка)[ \\t]*{_CLOSE}[ \\t]*|[ \\t]+(?:dot|точка)[ \\t]+|\\.)"
# on UTF-8 bytes: a rejected candidate is searched again from its domain, without re-encoding the text
EMAIL_OBF = re2.compile(f"(?i){_LOCAL}{_AT}({_LABEL}(?:{_DOT}{_LABEL})+)".encode())
EMAIL = re2.compile(f"{_LOCAL}@{_LABEL}(?:\\.{_LABEL})*")  # also typo-ed domains like "x@mailde"
MAIL_PROVIDERS = frozenset("""gmail googlemail yandex ya mail inbox list bk rambler outlook hotmail live yahoo
                              icloud me proton protonmail gmx web aol zoho""".split())  # noqa: SIM905
TLDS = frozenset("""com ru net org info io de uk co biz me ua kz by su рф edu gov mail fr es it nl pl ch at
                    eu us ca au cn jp in br tr cz lv lt ee fi se no dk online site pro tech""".split())  # noqa: SIM905

# --- IBAN ----------------------------------------------------------------------------------------
IBAN = re2.compile("(?i)\\b[a-z]{2}[0-9]{2}(?:[ \\-]?[a-z0-9]{4}){2,7}(?:[ \\-]?[a-z0-9]{1,4})?\\b")
IBAN_LENGTHS = {  # IBAN countries a support desk sees most; other codes are masked when mod-97 passes
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
NAME = re2.compile(f"(^|[^\\p{{L}}])((?:{_WORD}{_NSP})?{_WORD}{_NSP}{_PATRONYMIC}(?:{_NSP}{_WORD})?)([^\\p{{L}}]|$)")
PASSPORT_WORDS = re2.compile(  # "серия 4508 номер 123456", "45 08 №123456"
    f"(?i)(?:(?:серия|series){SP}*[0-9]{{2}}{SP}?[0-9]{{2}}{SP}*,?{SP}*(?:номер|№|no\\.?|number|#)"
    f"|\\b[0-9]{{2}}{SP}?[0-9]{{2}}{SP}*(?:№|#|N{SP}))"
    f"{SP}*[0-9]{{6}}")
DOC_ID = re2.compile("\\b[A-Z]{1,3}[0-9]{6,9}\\b")
# dots join digit groups only in these shapes (dates, times, amounts and versions use dots too)
DOTTED_CARD = re2.compile("\\b[0-9]{4}\\.[0-9]{4}\\.[0-9]{4}\\.[0-9]{1,7}\\b")
DOTTED_PHONE = re2.compile("\\b[0-9]{3}\\.[0-9]{3}\\.[0-9]{4}\\b")
