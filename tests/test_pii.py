"""PII masking (data/pii.py): the battery of typed PII in dialogue sentences and plain sentences
(tests/pii_battery.py), the hostile tester's misses on the old masker, checksums, and linear time."""
import random
import time

import pytest

from data.pii import PLACEHOLDERS, iban_ok, inn_ok, luhn_ok, mask_pii, mask_value, snils_ok
from tests.pii_battery import CASES, PLAIN, VALUES, evaluate, leftovers, table


def test_battery_is_big_and_covers_every_type_in_both_languages():
    assert len(CASES) >= 100 and len(PLAIN) >= 50
    assert {c.kind for c in CASES} == set(PLACEHOLDERS)
    assert {c.lang for c in CASES} == {"en", "ru"}
    assert all(c.pii in c.sentence for c in CASES)
    ru_plain = [s for s in PLAIN if any("а" <= ch <= "я" for ch in s)]
    assert 20 <= len(ru_plain) <= len(PLAIN) - 20  # both languages, 20+ sentences each
    # the checksummed values really are valid, so the battery tests what it says
    assert all(inn_ok(v) for v in VALUES["INN"])
    assert all(iban_ok("".join(ch for ch in v if ch.isalnum())) for v in VALUES["IBAN"])


def test_every_covered_type_is_fully_masked_with_its_placeholder_and_plain_text_is_kept():
    rep = evaluate(mask_pii)
    misses = "\n".join(f"{c.kind}: {c.sentence!r} -> {out!r} (left {leftovers(c, out)})" for c, out in rep.misses)
    assert not rep.misses, f"{table(rep)}\n{misses}"
    assert all(r["recall"] == 1.0 for r in rep.rows)
    assert rep.plain["rate"] <= 0.02, rep.over_masked


@pytest.mark.parametrize("text,kind,secret", [
    ("my card 4111 1111 1111 1112 was declined", "CARD", "4111 1111 1111 1112"),  # Luhn-invalid
    ("card 4111  1111  1111  1111 please", "CARD", "1111  1111"),                   # double spaces
    ("card4111111111111111 was declined", "CARD", "4111111111111111"),              # glued to letters
    ("the number 4111111111111111exp 12/27", "CARD", "4111111111111111"),
    ("card 4111111111111111 1234 is the one", "CARD", "4111111111111111"),          # another number after it
    ("iban de89 3704 0044 0532 0130 00 please", "IBAN", "3704"),                     # lowercase IBAN
    ("счёт 40817810099910004312 заблокирован", "ACCOUNT", "40817810099910004312"),  # 20-digit account
    ("mail john [at] example [dot] com today", "EMAIL", "john"),                    # obfuscated e-mail
])
def test_the_hostile_testers_misses_are_masked(text, kind, secret):
    out = mask_pii(text)
    assert f"[{kind}]" in out and secret not in out, out


@pytest.mark.parametrize("text", ["order 2024-000123 shipped", "ORD-55821", "on 2024-01-15 14:30",
                                  "1 250,00 руб", "$1,234.56", "ref 12345678", "15.01.2024 в 09:00"])
def test_ids_dates_amounts_and_short_references_are_kept(text):
    assert mask_pii(text) == text


def test_undecodable_bytes_do_not_break_masking():
    # a CSV metadata column with bytes that are not UTF-8 arrives as lone surrogates; RE2 needs UTF-8
    assert mask_pii("bad \udcff card 4111 1111 1111 1111") == "bad \\xff card [CARD]"
    assert mask_value({"note": "x\udcfe, a.b@c.de"}) == {"note": "x\\xfe, [EMAIL]"}


def test_masking_is_idempotent():
    for s in [c.sentence for c in CASES] + PLAIN:
        once = mask_pii(s)
        assert mask_pii(once) == once, s


def test_random_text_never_breaks_masking_and_masking_twice_changes_nothing():
    rng = random.Random(7)
    alphabet = (list("0123456789") * 4 + list(" -+()@.[]{}<>,;:/#№_abcATdotDEGBxzИванович\u00a0\n")
                + [" at ", " dot ", "собака", "точка", "серия", "паспорт", "ИНН", "Иванов Иван Иванович", "gmail",
                   "4111 ", "+7 ", "(916) ", "de89 "])
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        once = mask_pii(s)
        assert mask_pii(once) == once, s


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert inn_ok("7707083893") and not inn_ok("7707083894")
    assert inn_ok("500100732259") and not inn_ok("500100732258")
    assert snils_ok("11223344595") and not snils_ok("11223344596")
    assert iban_ok("DE89370400440532013000") and iban_ok("de89370400440532013000") and not iban_ok("DE89370400440532013001")


def test_mask_value_walks_metadata():
    v = {"phone": "+7 916 123-45-67", "n": 79161234567, "ok": 42, "flag": True, "nested": [{"mail": "a.b@c.de"}],
         "channel": "chat"}
    assert mask_value(v) == {"phone": "[PHONE]", "n": "[PHONE]", "ok": 42, "flag": True,
                             "nested": [{"mail": "[EMAIL]"}], "channel": "chat"}


def _best_time(text: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        mask_pii(text)
        best = min(best, time.perf_counter() - t0)
    return best


TOKENS = {
    "digits": lambda n: "4" * n,
    "letters": lambda n: "a" * n,
    "mixed": lambda n: ("a1B2-" * n)[:n],
    "cyrillic+digits": lambda n: ("Иван7" * n)[:n],
    "spaced digits": lambda n: ("1 " * n)[:n],
}


@pytest.mark.parametrize("kind", list(TOKENS))
def test_masking_time_is_linear(kind):
    """The old masker took 1-2 s on one 20,000-character token and grew with its square; now a
    200,000-character token takes at most about a second, about 10x the 20,000-character one (a
    quadratic masker would be 100x, and over a minute). The bounds are generous for a busy machine:
    times under 5 ms count as 5 ms, where timer noise would dominate the ratio."""
    small, big = TOKENS[kind](20_000), TOKENS[kind](200_000)
    t_small, t_big = _best_time(small), _best_time(big)
    assert t_big < 3.0, (kind, t_big)
    assert max(t_big, 5e-3) / max(t_small, 5e-3) < 40, (kind, t_small, t_big)
