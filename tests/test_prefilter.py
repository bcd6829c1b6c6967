"""The literal prefilter must never change a vote: fuzz it against searching every row."""
import random
import re

import numpy as np
import pandas as pd

from labeling_functions.apply import apply_lfs, compile_lfs
from labeling_functions.prefilter import FOLD, TextIndex, normalize, required_literals, scan_fold_table
from labeling_functions.spec import LFSpec

WORDS = ["card", "Card", "CARD", "cards", "lost", "stolen", "top", "top-up", "topup", "top up", "refund",
         "refunded", "pending", "ſtolen", "\u212aard", "İban", "ıban", "iban", "transfer", "exchange_rate",
         "x9", "fee", "fees", "naïve", "café", "42", "a", "the", "\u00a0", "\n", "!", "(ref 3)"]
PATTERNS = [
    r"\bcard\w*\b", r"(top[- ]?up|topup)s?", r"\d{2}", r"(?i)refund(ed)?", r"(abc)?stolen", r"x(ab|c)y+",
    r"(?:pending|still)\s+(top.?up|transfer)", r"ſtolen", r"KARD", r"(?i)kard", r"(?i)iban", r"İBAN",
    r"fee(s)?\b", r"caf[ée]", r"(?x) lost \s+ card", r"exchange_rate|fees", r"(?i)(?=.*lost)stolen",
    r"^card", r"card$", r"(?:lost|stolen){2,}", r"(?:lost)*card", r"na[iï]ve", r"[A-Z]{4}",
]


def brute(texts, pattern, flags=0):
    r = re.compile(pattern, flags)
    return np.array([bool(r.search(t)) for t in texts])


def test_required_literals_reads_the_parsed_regex():
    assert required_literals(r"\bcard\w*\b") == [{"card"}]
    assert required_literals(r"(?<!\w)(?:lost\s+card|stolen)(?!\w)") == [{"lost", "stolen"}]
    assert required_literals(r"(abc)?def") == [{"def"}]  # optional group is not required
    assert required_literals(r"\d{16}") == []
    assert normalize("\u212aARD ſtolen İBAN") == "kard stolen iban"
    assert scan_fold_table() == FOLD  # the fold table is exactly what re.IGNORECASE does on this Python


def test_prefilter_is_exact_on_random_texts_and_patterns():
    rng = random.Random(7)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 8))) for _ in range(3000)]
    idx = TextIndex(texts)
    for pat in PATTERNS:
        for flags in (0, re.IGNORECASE):
            want = brute(texts, pat, flags)
            rows = idx.candidates(required_literals(re.compile(pat, flags)))
            got = np.zeros(len(texts), bool)
            cand = range(len(texts)) if rows is None else rows
            r = re.compile(pat, flags)
            for i in cand:
                got[i] = bool(r.search(texts[i]))
            assert np.array_equal(got, want), (pat, flags)
            assert want.sum() == 0 or rows is None or len(rows) >= want.sum()


def test_apply_lfs_keyword_and_regex_match_brute_force():
    rng = random.Random(3)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))) for _ in range(2000)]
    df = pd.DataFrame({"ticket_id": [f"t{i}" for i in range(len(texts))], "text": texts})
    specs = [LFSpec(id=f"re{i}", tag="a", kind="regex", params={"pattern": p, "ignore_case": i % 2 == 0})
             for i, p in enumerate(PATTERNS) if p != r"(?:lost|stolen){2,}"]  # the gate rejects that one
    specs += [LFSpec(id="kw1", tag="b", kind="keyword", params={"any": ["lost card", "stolen"], "exclude": ["refund"]}),
              LFSpec(id="kw2", tag="b", kind="keyword", params={"all": ["top", "card"]}),
              LFSpec(id="kw3", tag="b", kind="keyword", params={"any": ["iban", "café"]})]
    comp = compile_lfs(specs, ["a", "b"])
    L = apply_lfs(df, comp)
    for j, c in enumerate(comp):
        want = np.array([c.label if c._text_vote(t) else -1 for t in texts])
        assert np.array_equal(L[:, j], want), c.spec.id
    assert (L != -1).any(axis=0).sum() >= len(specs) - 3  # the fuzz actually fires most LFs
