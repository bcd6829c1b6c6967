"""The literal prefilter must never change a vote: fuzz it against RE2 searching every row
(ASCII and Cyrillic), and check its case folding against RE2's own."""
import random
import sys

import numpy as np
import pandas as pd
import re2

from labeling_functions.apply import SPACE, apply_lfs, compile_lfs
from labeling_functions.prefilter import (BMP, FOLD, TOKEN, TextIndex, keyword_clauses, normalize,
                                          required_literals)
from labeling_functions.regex import LinearRegex
from labeling_functions.spec import LFSpec

WORDS = ["card", "Card", "CARD", "cards", "lost", "stolen", "top", "top-up", "topup", "top up", "refund",
         "refunded", "pending", "ſtolen", "\u212aard", "İban", "ıban", "iban", "transfer", "exchange_rate",
         "x9", "fee", "fees", "naïve", "café", "42", "a", "the", "\u00a0", "\n", "!", "(ref 3)"]
PATTERNS = [
    r"\bcard\w*\b", r"(top[- ]?up|topup)s?", r"\d{2}", r"(?i)refund(ed)?", r"(abc)?stolen", r"x(ab|c)y+",
    r"(?:pending|still)\s+(top.?up|transfer)", r"ſtolen", r"KARD", r"(?i)kard", r"(?i)iban", r"İBAN",
    r"fee(s)?\b", r"caf[ée]", r"lost\s+card", r"exchange_rate|fees", r"(?i)stolen.*lost",
    r"^card", r"card$", r"(?:lost|stolen){2,}", r"(?:lost)*card", r"na[iï]ve", r"[A-Z]{4}", r"\x{212A}ard",
    r"(?:^|[^\p{L}])card(?:[^\p{L}]|$)", r"(?<name>top)\s?up",
]
RU_WORDS = ["карта", "Карта", "КАРТА", "карту", "карты", "суперкарта", "ёлка", "Ёлка", "ЕЛКА", "елка", "ЁЛКА",
            "перевод", "ПЕРЕВОД", "пЕрЕвОд", "перёвод", "платёж", "ПЛАТЕЖ", "не", "НЕ", "прошёл", "прошел",
            "kарта",  # a Latin k
            "cash-бэк", "карта123", "\u1c80клад", "вклад", "ВКЛАД", "ѐлка", "\u00a0", "№", ",", "«", "»", "\n",
            "card", "Card", "да", "нет", "за\u0301мок", "замок"]
RU_PATTERNS = [
    r"карт[аыу]", r"(?i)ёлка", r"ЕЛКА", r"перевод\p{L}*", r"(?:^|[^\p{L}])карт[аы](?:[^\p{L}]|$)",
    r"\x{451}лка", r"(перевод|платёж)\s+не", r"kарта", r"вклад", r"прош[её]л", r"п[её]р[её]вод",
    r"(?:карта|card)\s*\d+", r"[А-Я]{5}", r"суперкарта|ёлка", r"(?i:ПЛАТЁЖ)", r"бэк$", r"^Ёлка", r"за\x{301}мок",
]


def brute(texts, pattern, ignore_case):
    r = LinearRegex(pattern, ignore_case)
    return np.array([r.search(t) for t in texts])


def prefiltered(texts, idx, pattern, ignore_case):
    r = LinearRegex(pattern, ignore_case)
    rows = idx.candidates(required_literals(pattern))
    got = np.zeros(len(texts), bool)
    for i in range(len(texts)) if rows is None else rows:
        got[i] = r.search(texts[i])
    return got, rows


def test_required_literals_reads_the_parsed_regex():
    assert required_literals(r"\bcard\w*\b") == [{"card"}]
    assert required_literals(r"(?:lost\s+card|stolen)") == [{"lost", "stolen"}]
    assert required_literals(r"(abc)?def") == [{"def"}]  # optional group is not required
    assert required_literals(r"\d{16}") == []
    assert required_literals(r"(?:^|[^\p{L}])карт[аы](?:[^\p{L}]|$)") == [{"карт"}]  # RE2-only syntax is read
    assert required_literals(r"п[её]р[её]вод") == [{"перевод"}]  # a class of one letter (ё = е) is a literal
    assert required_literals(r"\x{41A}АРТА") == [{"карта"}]
    assert keyword_clauses(["перевод денег", "Ёлка"]) == [{"перевод", "елка"}]
    assert keyword_clauses(["a", "card"]) == []  # a phrase without a literal: no prefilter
    assert normalize("\u212aARD ſtolen ЁЛКА Ёлка \u1c80") == "kard stolen елка елка в"


def _bmp_text() -> str:
    return "".join(chr(c) for c in range(BMP) if not 0xD800 <= c <= 0xDFFF)


def _classes() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for cp, rep in FOLD.items():
        out.setdefault(rep, {rep}).add(chr(cp))
    return out


def test_every_re2_case_orbit_lies_in_one_fold_class():
    """The superset property the prefilter rests on, checked against RE2 itself: whatever RE2 matches
    case-insensitively for a character normalizes to that character's normal form."""
    text = _bmp_text()
    data = text.encode()
    classes = _classes()
    for rep, members in classes.items():
        for c in members:
            orbit = _matched(f"\\x{{{ord(c):x}}}", data)
            assert {normalize(x) for x in orbit} == {rep}, (c, orbit)
    # no RE2 orbit links a character outside the classes to one inside, nor leaves the BMP
    inside = "".join(sorted({c for ms in classes.values() for c in ms}))
    astral = "".join(chr(c) for c in range(BMP, sys.maxunicode + 1))
    assert not _matched(_ranges(inside), astral.encode())
    outside_words = "".join(c for c in text if TOKEN.fullmatch(c) and c not in inside)
    assert _matched(_ranges(outside_words), data) == set(outside_words)


def _matched(pattern: str, data: bytes) -> set[str]:
    """Every character RE2 matches case-insensitively with ``pattern`` in ``data``."""
    o = re2.Options()
    o.case_sensitive = False
    o.never_capture = True
    r = re2._re2.RE2(pattern.encode(), o)
    assert r.ok(), pattern
    out, pos = set(), 0
    while (span := r.Match(re2._Anchor.UNANCHORED, data, pos, len(data))[0])[0] != -1:
        out.add(data[span[0]:span[1]].decode())
        pos = span[1]
    return out


def _ranges(chars: str) -> str:
    cps = sorted(map(ord, chars))
    parts, start = [], cps[0]
    for a, b in zip(cps, cps[1:] + [None]):
        if b != a + 1:
            parts.append(f"\\x{{{start:x}}}-\\x{{{a:x}}}")
            start = b
    return "[" + "".join(parts) + "]"


def test_keyword_space_class_is_str_isspace():
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    got = {m.group() for m in re2.finditer(SPACE, every)}
    assert got == {c for c in every if c.isspace()}


def _fuzz(words, patterns, seed, n=3000):
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 8))) for _ in range(n)]
    idx = TextIndex(texts)
    used = 0
    for pat in patterns:
        for ignore_case in (False, True):
            want = brute(texts, pat, ignore_case)
            got, rows = prefiltered(texts, idx, pat, ignore_case)
            assert np.array_equal(got, want), (pat, ignore_case)
            used += rows is not None and len(rows) < n
    return used


def test_prefilter_is_exact_on_random_texts_and_patterns():
    assert _fuzz(WORDS, PATTERNS, 7) >= len(PATTERNS)  # and the prefilter narrows most patterns


def test_prefilter_is_exact_on_cyrillic_texts_and_patterns():
    """Mixed case, ё/е, Latin look-alikes inside Cyrillic words, the rounded ve, combining accents."""
    assert _fuzz(RU_WORDS + WORDS[:6], RU_PATTERNS, 11) >= len(RU_PATTERNS)


def _apply_vs_brute(words, specs, seed, n=2000):
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 8))) for _ in range(n)]
    df = pd.DataFrame({"ticket_id": [f"t{i}" for i in range(len(texts))], "text": texts})
    comp = compile_lfs(specs, ["a", "b"])
    L = apply_lfs(df, comp)
    for j, c in enumerate(comp):
        want = np.array([c.label if c._text_vote(t) else -1 for t in texts])
        assert np.array_equal(L[:, j], want), c.spec.id
    return L, comp, TextIndex(texts)


def test_apply_lfs_keyword_and_regex_match_brute_force():
    specs = [LFSpec(id=f"re{i}", tag="a", kind="regex", params={"pattern": p, "ignore_case": i % 2 == 0})
             for i, p in enumerate(PATTERNS) if p != r"(?:lost|stolen){2,}"]  # the gate rejects that one
    specs += [LFSpec(id="kw1", tag="b", kind="keyword", params={"any": ["lost card", "stolen"], "exclude": ["refund"]}),
              LFSpec(id="kw2", tag="b", kind="keyword", params={"all": ["top", "card"]}),
              LFSpec(id="kw3", tag="b", kind="keyword", params={"any": ["iban", "café"]})]
    L, _, _ = _apply_vs_brute(WORDS, specs, 3)
    assert (L != -1).any(axis=0).sum() >= len(specs) - 3  # the fuzz actually fires most LFs


def test_apply_lfs_cyrillic_keywords_and_regexes_match_brute_force_and_are_prefiltered():
    specs = [LFSpec(id=f"re{i}", tag="a", kind="regex", params={"pattern": p, "ignore_case": i % 2 == 0})
             for i, p in enumerate(RU_PATTERNS)]
    specs += [LFSpec(id="kw1", tag="b", kind="keyword", params={"any": ["ёлка", "Карта"], "exclude": ["нет"]}),
              LFSpec(id="kw2", tag="b", kind="keyword", params={"all": ["перевод", "не прошёл"]}),
              LFSpec(id="kw3", tag="b", kind="keyword", params={"any": ["платеж", "cash-бэк", "вклад"]})]
    L, comp, idx = _apply_vs_brute(RU_WORDS, specs, 5)
    assert (L != -1).any(axis=0).all()
    for c in comp[-3:]:  # Cyrillic keyword LFs do not scan every ticket
        rows = idx.candidates(c.clauses)
        assert rows is not None and len(rows) < idx.n, c.spec.id


def test_cyrillic_keyword_semantics():
    texts = ["Моя КАРТА заблокирована", "суперкарта", "карта,", "карты", "Ёлка", "ЕЛКА!", "елочка", "ёлка\u00a0и карта",
             "kарта", "«карта»", "картаcard", "перевод   не прошел", "ПЕРЕВОД\nНЕ ПРОШЁЛ"]
    df = pd.DataFrame({"ticket_id": [f"t{i}" for i in range(len(texts))], "text": texts})
    specs = [LFSpec(id="card", tag="a", kind="keyword", params={"any": ["карта"]}),
             LFSpec(id="tree", tag="a", kind="keyword", params={"any": ["ёлка"]}),
             LFSpec(id="failed", tag="b", kind="keyword", params={"any": ["перевод не прошёл"]})]
    L = apply_lfs(df, compile_lfs(specs, ["a", "b"])) != -1
    assert [t for t, v in zip(texts, L[:, 0]) if v] == ["Моя КАРТА заблокирована", "карта,", "ёлка\u00a0и карта", "«карта»"]
    assert [t for t, v in zip(texts, L[:, 1]) if v] == ["Ёлка", "ЕЛКА!", "ёлка\u00a0и карта"]
    assert [t for t, v in zip(texts, L[:, 2]) if v] == ["перевод   не прошел", "ПЕРЕВОД\nНЕ ПРОШЁЛ"]


def test_keyword_tier_classes_match_the_unicode_classes_on_their_texts():
    """A keyword pattern for ASCII or common-range texts uses small classes; on every character such a
    text can hold they match exactly what the Unicode-property classes match (RE2, case-insensitive)."""
    from labeling_functions.apply import TIER_SPACE, TIER_WORD
    from labeling_functions.prefilter import ANY_TEXT, ASCII_TEXT, COMMON, COMMON_TEXT

    for tier, ranges in ((ASCII_TEXT, [(0, 0x7F)]), (COMMON_TEXT, COMMON)):
        chars = "".join(chr(c) for a, b in ranges for c in range(a, b + 1)).encode()
        for table in (TIER_WORD, TIER_SPACE):
            for neg in ("", "^"):
                assert _matched(f"[{neg}{table[tier]}]", chars) == _matched(f"[{neg}{table[ANY_TEXT]}]", chars)


def test_text_tiers_and_tiered_keyword_patterns_agree_with_the_unicode_pattern():
    from labeling_functions.apply import PhraseMatcher
    from labeling_functions.prefilter import ANY_TEXT, ASCII_TEXT, COMMON_TEXT, text_tier

    assert [text_tier(t, t.encode()) for t in ["card", "карта\u00a0№5 «да» — ½", "карта 😀", "ſtolen"]] == [
        ASCII_TEXT, COMMON_TEXT, ANY_TEXT, ANY_TEXT]
    rng = random.Random(13)
    words = RU_WORDS + WORDS + ["😀", "ǅ", "ſ", "\u2003", "\u3000", "x\u0301", "٣"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 6))) for _ in range(3000)]
    for phrases in (["карта"], ["ёлка", "top up"], ["ſtolen", "card"], ["перевод не прошёл"], ["x"]):
        m = PhraseMatcher(phrases)
        for t in texts:
            b = t.encode()
            assert m.match(b, text_tier(t, b)) == m.match(b, ANY_TEXT), (phrases, t)
