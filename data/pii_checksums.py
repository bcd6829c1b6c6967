"""Checksums that tell personal identifiers from other numbers: Luhn (cards), INN, SNILS, IBAN mod-97."""
from __future__ import annotations


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def inn_ok(digits: str) -> bool:
    """True when ``digits`` is a 10-digit (organisation) or 12-digit (person) INN with valid check digits."""
    d = [int(c) for c in digits]

    def check(coeffs: tuple[int, ...]) -> int:
        return sum(c * x for c, x in zip(coeffs, d)) % 11 % 10

    if len(d) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[9]
    if len(d) == 12:
        return (check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[10]
                and check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[11])
    return False


def snils_ok(digits: str) -> bool:
    """True when ``digits`` is an 11-digit SNILS whose last two digits are its checksum."""
    if len(digits) != 11:
        return False
    total = sum(int(c) * (9 - i) for i, c in enumerate(digits[:9]))
    check = total if total < 100 else (0 if total in (100, 101) else total % 101 % 100)
    return check == int(digits[9:])


def iban_ok(iban: str) -> bool:
    """True when ``iban`` (letters and digits only) passes the ISO 13616 mod-97 check."""
    return len(iban) >= 5 and _iban_prefixes_ok(iban)[-1]


def _iban_prefixes_ok(chars: str) -> list[bool]:
    """For n = 5 .. len(chars): does ``chars[:n]`` pass mod-97? One pass, however many prefixes."""
    s = chars.upper()
    if not s.isascii() or not s.isalnum() or len(s) < 5:
        return [False] * max(0, len(s) - 4)
    head = "".join(str(int(c, 36)) for c in s[:4])  # country and check digits go to the end
    shift, tail = pow(10, len(head), 97), int(head) % 97
    out, r = [], 0
    for c in s[4:]:
        v = int(c, 36)
        r = (r * (100 if v > 9 else 10) + v) % 97
        out.append((r * shift + tail) % 97 == 1)
    return out
