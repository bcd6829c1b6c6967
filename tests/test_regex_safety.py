"""Every LF pattern runs on RE2 in time linear in the ticket, or is rejected with a named reason.

The tester's patterns (issue 15.1) took 10 to 20+ seconds per ordinary ticket in Python's ``re``."""
import pickle
import time

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from labeling_functions.apply import apply_lfs, compile_lfs, to_snorkel_lfs
from labeling_functions.regex import LinearRegex, RegexSyntaxError, UnsafeRegex, UnsupportedRegex, check_regex
from labeling_functions.spec import LFSpec
from llm_rulegen.gate import GateConfig, gate_lfs

LONG_TICKET = ("hello my card number 1234 5678 was stolen at the bar yesterday and the app says pending " * 1200
               + "Моя карта заблокирована, перевод не прошёл " * 300)  # ~140,000 characters, no match for most

# the tester's classes: atomic group around repetition; chains of bounded optional repeats; chains of
# [\s\S]* / .* before a literal (none has a literal the prefilter could use)
TESTER_ACCEPTED = [r"(?:\w?){30}\w{30}", r"(?:\w?){25}\w{25}\d", r"[\s\S]*[\s\S]*[\s\S]*[\s\S]*[\s\S]*zq",
                   r".*.*.*.*.*.*.*:x", r"(?s).*.*.*.*$Q"]
TESTER_SHAPE_REJECTED = [r"(?:\w+\s?)+\d{9}"]  # the atomic group's body: a backtracking shape, refused by policy
TESTER_REJECTED = {r"(?>(?:\w+\s?)+\d{9})": "atomic group", r"(?>(?:\w?){30})\w{30}": "atomic group",
                   r"(?:\w+\s?)++\d{9}": "possessive quantifier"}
UNSUPPORTED = {r"card(?=\s)": "lookahead", r"card(?!s)": "negative lookahead", r"(?<=my )card": "lookbehind",
               r"(?<!no )card": "negative lookbehind", r"(card)\s\1": "backreference", r"(?P<w>x)(?P=w)": "named backreference",
               r"(x)?(?(1)a|b)": "conditional group", r"(?x) card": "inline flag x", r"(?a)\w+": "inline flag a",
               r"card\Z": r"\Z", r"\u043a\u0430": "Python escape", r"card(?#comment)": "comment group",
               r"a*+b": "possessive quantifier", r"a{2}+b": "possessive quantifier",
               r"(?i)\bкарт[аы]\b": "next to the non-ASCII letter", r"перевод\b": "next to the non-ASCII letter"}


@pytest.mark.parametrize("pattern", TESTER_ACCEPTED)
def test_tester_patterns_run_in_linear_time_on_a_long_ticket(pattern):
    compiled = check_regex(pattern)  # accepted: RE2 runs it without backtracking
    t = time.perf_counter()
    for _ in range(5):
        compiled.search(LONG_TICKET)
    assert time.perf_counter() - t < 2.0  # about 5 ms each here; Python's re took 10-20 s on a short ticket


@pytest.mark.parametrize("pattern", TESTER_SHAPE_REJECTED)
def test_backtracking_shapes_are_rejected_by_name_yet_linear_in_re2(pattern):
    with pytest.raises(UnsafeRegex, match="nested unbounded repetition"):
        check_regex(pattern)
    t = time.perf_counter()
    LinearRegex(pattern).search(LONG_TICKET)  # even if one got through, RE2 would not backtrack
    assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize("pattern,construct", TESTER_REJECTED.items())
def test_tester_patterns_rejected_name_the_construct(pattern, construct):
    with pytest.raises(UnsupportedRegex, match=construct):
        check_regex(pattern)


@pytest.mark.parametrize("pattern,construct", UNSUPPORTED.items())
def test_unsupported_constructs_are_named(pattern, construct):
    with pytest.raises(UnsupportedRegex) as e:
        check_regex(pattern)
    assert construct in str(e.value)
    with pytest.raises(ValidationError, match="unsupported regex"):
        LFSpec(id="r", tag="fee", kind="regex", params={"pattern": pattern})


def test_no_fallback_to_python_re():
    """RE2 refuses what it cannot run; nothing silently falls back to the backtracking engine."""
    with pytest.raises(RegexSyntaxError, match="invalid perl operator"):
        LinearRegex(r"(?<=a)b")
    with pytest.raises(ValidationError, match="regex does not compile: missing \\)"):
        LFSpec(id="r", tag="fee", kind="regex", params={"pattern": "(unclosed"})
    spec = LFSpec(id="r", tag="fee", kind="regex", params={"pattern": r"caf\b"})
    (c,) = compile_lfs([spec], ["fee"])
    assert all(isinstance(r, LinearRegex) for r in c.must)
    # RE2 semantics, not Python's: RE2's \b is ASCII-only, so "caf" ends a word before "é"
    assert c._text_vote("café") and not __import__("re").search(r"caf\b", "café")


def test_program_size_is_bounded():
    with pytest.raises(UnsafeRegex, match="RE2 instructions"):
        check_regex(r"(?:\p{L}?){12}\p{L}{12}z")
    with pytest.raises(RegexSyntaxError, match="repetition"):
        check_regex(r"((a{100}){100})")


def test_snorkel_lf_uses_the_same_engine_and_matrix_is_identical():
    from snorkel.labeling import PandasLFApplier

    texts = ["café", "caf", "Моя КАРТА", "моя карта", "x" * 5000 + " 123456789", "card stolen", "", "ёлка"]
    df = pd.DataFrame({"ticket_id": [f"t{i}" for i in range(len(texts))], "text": texts})
    specs = [LFSpec(id=f"re{i}", tag="a", kind="regex", params={"pattern": p})
             for i, p in enumerate([r"caf\b", r"(?:\w?){30}\w{30}", r"(?:^|[^\p{L}])карт[аы]", r".*.*.*\d{9}"])]
    specs.append(LFSpec(id="kw", tag="a", kind="keyword", params={"any": ["ёлка", "карта"]}))
    comp = compile_lfs(specs, ["a"])
    L = apply_lfs(df, comp)
    np.testing.assert_array_equal(L, PandasLFApplier(to_snorkel_lfs(comp)).apply(df, progress_bar=False))
    assert (L != -1).sum(axis=0).tolist() == [2, 1, 2, 1, 3]  # "café" and "caf" for caf\b
    back = pickle.loads(pickle.dumps(comp))  # Dask ships compiled LFs: RE2 patterns recompile on arrival
    np.testing.assert_array_equal(apply_lfs(df, back), L)


def test_gate_explains_each_rejection_and_applies_accepted_patterns_fast():
    pool = pd.DataFrame({"ticket_id": [f"p{i}" for i in range(4)],
                         "text": [LONG_TICKET, "card number 123456789", "a fee", "transfer 987654321 failed"]})
    dev = pd.DataFrame({"ticket_id": ["d1", "d2", "d3"], "text": ["card 123456789", "acct 555555555", "a fee"],
                        "tag": ["card", "card", "fee"]})
    cands = [{"id": f"ok{i}", "tag": "card", "kind": "regex", "params": {"pattern": p}} for i, p in enumerate(TESTER_ACCEPTED)]
    cands += [{"id": f"bad{i}", "tag": "card", "kind": "regex", "params": {"pattern": p}}
              for i, p in enumerate([*TESTER_REJECTED, r"(?<!no )card", r"(a+)+$"])]
    t = time.perf_counter()
    res = gate_lfs(cands, ["card", "fee"], pool, dev, [], {}, GateConfig(min_precision=0.5, min_support=1, max_coverage=1.0))
    assert time.perf_counter() - t < 10.0
    reasons = {r["id"]: (r["reason"], r["detail"]) for r in res.rejected}
    assert {k: v[0] for k, v in reasons.items() if k.startswith("bad")} == {
        "bad0": "unsupported_regex", "bad1": "unsupported_regex", "bad2": "unsupported_regex",
        "bad3": "unsupported_regex", "bad4": "unsafe_regex"}
    assert "atomic group" in reasons["bad0"][1] and "RE2" in reasons["bad0"][1]
    assert "negative lookbehind" in reasons["bad3"][1]
    assert not [k for k in reasons if k.startswith("ok") and reasons[k][0] in ("unsupported_regex", "unsafe_regex")]


def test_miner_pair_pattern_works_on_cyrillic_words_and_is_prefiltered():
    """The miner's "two words near each other" regex: Unicode word boundaries (RE2's \\b would never
    fire next to a Cyrillic letter), a gap of 1..window characters on one line, either order."""
    from labeling_functions.prefilter import required_literals
    from llm_rulegen.miner import near_pattern

    pattern = near_pattern("карта", "заблокирована", 40) + "|" + near_pattern("заблокирована", "карта", 40)
    r = check_regex(pattern)
    hits = {"Моя КАРТА вчера заблокирована": True, "заблокирована моя карта!": True, "карта, заблокирована": True,
            "суперкарта заблокирована": False, "карта\nзаблокирована": False, "картазаблокирована": False,
            "карта " + "x" * 38 + " заблокирована": True, "карта " + "x" * 39 + " заблокирована": False,
            "Карта заблокированаа": False}
    assert {t: r.search(t) for t in hits} == hits
    assert required_literals(pattern) == [{"заблокирована"}]  # both orders need it: the index narrows the rows
    en = check_regex(near_pattern("card", "stolen", 40))
    assert en.search("my card was stolen") and not en.search("cardstolen") and not en.search("scard stolen")
