"""LF store lifecycle and the analyst CLI (`tagger lf ...`) on tiny demo data."""
import re
from pathlib import Path

import pytest
import yaml

from labeling_functions.spec import LFSpec
from labeling_functions.store import LFStore, LifecycleError


def kw(i, tag, phrase, status="proposed"):
    return LFSpec(id=i, tag=tag, kind="keyword", params={"any": [phrase]}, status=status, author="miner:test",
                  provenance={"round": 1, "gate": {"dev_precision": 0.9, "dev_hits": 4, "pool_coverage": 0.02}})


def test_store_lifecycle_records_who_when_why(tmp_path):
    st = LFStore(tmp_path)
    assert st.add([kw("a", "fee_charged", "fee"), kw("b", "fee_charged", "charge"), kw("c", "pin_blocked", "pin")]) == ["a", "b", "c"]
    assert st.add([kw("a", "fee_charged", "other")]) == []  # ids are stable: no overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fee_charged.yaml", "pin_blocked.yaml"]
    st.set_status("a", "active", "ana", "precise on dev")
    st.set_status("b", "rejected", "ana", "too vague")
    st.set_status("a", "retired", "bob", "superseded")
    a = st.get("a")
    assert a.status == "retired" and [h["to"] for h in a.provenance["history"]] == ["active", "retired"]
    assert a.provenance["history"][1]["by"] == "bob" and a.provenance["history"][1]["reason"] == "superseded"
    with pytest.raises(LifecycleError, match="cannot go from rejected to active"):
        st.set_status("b", "active", "ana", "changed my mind")
    with pytest.raises(LifecycleError, match="reason"):
        st.set_status("c", "active", "ana", " ")
    with pytest.raises(KeyError):
        st.get("zzz")


def tagger(*args):
    """The analyst's ``tagger`` command, run in this process (tests.tiny_configs.cli)."""
    from tests.tiny_configs import cli

    return cli(*args)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_seed):
    from tests.tiny_configs import SMALL_SELECT
    from tests.tiny_configs import tiny as tiny_config

    out = tiny_seed(tmp_path_factory.mktemp("review"))  # the demo data and its MiniLM embeddings
    store = out / "lfs"
    LFStore(store).add([kw("kw:stolen", "card_lost_or_stolen", "stolen"), kw("kw:fee", "fee_charged", "fee"),
                        kw("kw:bad", "pin_blocked", "card")])
    cfg = out / "tiny.yaml"
    # two recipes on two folds: enough for recipe CV (the diff below compares its score), not the whole grid
    cfg.write_text(tiny_config(out, select=SMALL_SELECT)
                   .replace("end_model:", f"lfs: {{spec_dirs: [{store}]}}\nend_model:"))
    return out, store, cfg


def test_cli_review_flow_and_only_active_lfs_train(tiny):
    out, store, cfg = tiny
    r = tagger("lf", "list", "--store", str(store), "--status", "proposed", "--sort", "dev_precision", "--desc")
    assert r.returncode == 0 and "3 LFs" in r.stdout and "kw:stolen" in r.stdout
    r = tagger("lf", "show", "kw:stolen", "--store", str(store), "--config", str(cfg))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "gold_dev:" in r.stdout and "correct on gold_dev" in r.stdout and "unlabeled pool hits" in r.stdout
    hits = [x for x in r.stdout.splitlines() if x.startswith("    [")]
    assert hits and all(re.search(r"\[\[stolen\]\]", x, re.I) for x in hits)  # each hit shows its match, marked
    assert tagger("lf", "approve", "kw:stolen", "--store", str(store), "--reason", "precise", "--by", "ana").returncode == 0
    assert tagger("lf", "reject", "kw:bad", "--store", str(store), "--reason", "fires on every card ticket").returncode == 0
    r = tagger("lf", "retire", "kw:fee", "--store", str(store), "--reason", "x")
    assert r.returncode == 2 and "cannot go from proposed to retired" in r.stderr
    r = tagger("lf", "list", "--store", str(store), "--status", "active")
    assert "kw:stolen" in r.stdout and "kw:bad" not in r.stdout and "1 LFs" in r.stdout
    # retrain: only the active LF feeds the label model
    r = tagger("run", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    used = {x["id"] for x in yaml.safe_load((run_dir / "lfs.yaml").read_text())["lfs"]}
    assert "kw:stolen" in used and not {"kw:fee", "kw:bad"} & used
    assert "kw:stolen" in (run_dir / "report.html").read_text()
    r = tagger("lf", "list", "--store", str(store), "--run", str(run_dir), "--sort", "conflicts", "--desc")
    assert r.returncode == 0 and "conflicts" in r.stdout.splitlines()[0] and "kw:stolen" in r.stdout
    # retire it, retrain, and diff the two runs
    assert tagger("lf", "retire", "kw:stolen", "--store", str(store), "--reason", "superseded").returncode == 0
    r2 = tagger("run", str(cfg), "--quiet")
    run_b = Path(r2.stdout.strip().splitlines()[-1])
    d = tagger("lf", "diff", str(run_dir), str(run_b))
    assert d.returncode == 0, d.stderr[-2000:]
    assert "removed (1):\n  kw:stolen" in d.stdout and "added (0)" in d.stdout
    assert "selection.chosen_cv_macro_f1" in d.stdout and "label_model.n_lfs" in d.stdout
    assert "gold_test" not in d.stdout and "model.macro_f1" not in d.stdout


def test_cli_lf_test_measures_a_hand_written_spec(tiny, tmp_path):
    _, _, cfg = tiny
    spec = tmp_path / "try.yaml"
    spec.write_text(yaml.safe_dump({"id": "try:pin", "tag": "pin_blocked", "kind": "regex",
                                    "params": {"pattern": r"\bpin\b"}}))
    r = tagger("lf", "test", str(spec), "--config", str(cfg), "--samples", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "try:pin" in r.stdout and "precision" in r.stdout and "incorrect on gold_dev" in r.stdout
    spec.write_text(yaml.safe_dump({"id": "evil", "tag": "pin_blocked", "kind": "regex", "params": {"pattern": "(a+)+$"}}))
    r = tagger("lf", "test", str(spec), "--config", str(cfg))
    assert r.returncode == 2 and "unsafe regex" in r.stderr


def test_tags_with_odd_characters_keep_their_own_store_files(tmp_path):
    """Banking77 has ``reverted_card_payment?``: its LFs (ids with ``?``) round-trip through the store,
    and a tag that sanitizes to the same name keeps a file of its own."""
    from labeling_functions.spec import LFSpec
    from labeling_functions.store import LFStore

    store = LFStore(tmp_path / "lfs")
    specs = [LFSpec(id="llm:reverted_card_payment?:reverted", tag="reverted_card_payment?", kind="keyword",
                    params={"any": ["reverted"]}),
             LFSpec(id="llm:reverted_card_payment_:other", tag="reverted_card_payment_", kind="keyword",
                    params={"any": ["other"]})]
    assert store.add(specs) == [s.id for s in specs]
    assert len(list((tmp_path / "lfs").glob("*.yaml"))) == 2
    got = {s.id: s.tag for s in LFStore(tmp_path / "lfs").all()}
    assert got == {"llm:reverted_card_payment?:reverted": "reverted_card_payment?",
                   "llm:reverted_card_payment_:other": "reverted_card_payment_"}
    store.set_status("llm:reverted_card_payment?:reverted", "active", by="ana", reason="checked")
    assert LFStore(tmp_path / "lfs").get("llm:reverted_card_payment?:reverted").status == "active"


def test_cli_small_review_commands_say_what_is_wrong(tmp_path):
    st = LFStore(tmp_path / "lfs")
    st.add([kw("kw:fee", "fee_charged", "fee"), kw("kw:pin", "pin_blocked", "pin")])
    r = tagger("lf", "list", "--store", str(tmp_path / "nope"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = tagger("lf", "show", "zzz", "--store", str(tmp_path / "lfs"))
    assert r.returncode == 2 and "error: no LF with id 'zzz'" in r.stderr and "\"no LF" not in r.stderr
    # a rejected LF can come back to the review queue, with the reason recorded
    assert tagger("lf", "reject", "kw:fee", "--store", str(tmp_path / "lfs"), "--reason", "vague").returncode == 0
    r = tagger("lf", "reopen", "kw:fee", "--store", str(tmp_path / "lfs"), "--reason", "worth a second look")
    assert r.returncode == 0 and "kw:fee: rejected -> proposed" in r.stdout
    hist = LFStore(tmp_path / "lfs").get("kw:fee").provenance["history"]
    assert [h["to"] for h in hist] == ["rejected", "proposed"] and hist[-1]["reason"] == "worth a second look"
    # counts print as integers and missing statistics as "-", never NaN
    r = tagger("lf", "list", "--store", str(tmp_path / "lfs"))
    assert r.returncode == 0 and "NaN" not in r.stdout and "4.000" not in r.stdout and "2 LFs" in r.stdout


def test_an_lf_that_no_longer_validates_is_left_out_named_and_its_file_never_rewritten(tmp_path):
    """A store file written before RE2 holds a lookahead regex: its other LFs load, the bad one is named,
    and a change to that tag is refused rather than silently dropping the bad entry from the file."""
    st = LFStore(tmp_path)
    st.add([kw("kw:fee", "fee_charged", "fee"), kw("kw:pin", "pin_blocked", "pin")])
    f = next(tmp_path.glob("fee_charged*.yaml"))
    data = yaml.safe_load(f.read_text())
    data["lfs"].append({"id": "rx:old", "tag": "fee_charged", "kind": "regex", "status": "active",
                        "params": {"pattern": "fee(?! refund)"}})
    f.write_text(yaml.safe_dump(data))
    before = f.read_text()
    ids = {s.id for s in st.all()}
    assert ids == {"kw:fee", "kw:pin"} and "rx:old" in st.errors[str(f)] and "lookahead" in st.errors[str(f)]
    with pytest.raises(LifecycleError, match="do not load"):
        st.set_status("kw:fee", "active", "ana", "fine")
    assert f.read_text() == before  # nothing lost
    assert st.set_status("kw:pin", "active", "ana", "fine").status == "active"  # other tags stay usable


def test_lf_show_cuts_each_hit_around_its_match_and_marks_it():
    """`lf show` / `lf test` print a hit around the words the LF matched, marked [[...]]: keyword phrases
    (without the boundary characters their pattern consumes), regex matches, Cyrillic (character, not byte,
    offsets), a match at the end of a long dialogue; embedding and metadata LFs show the text's beginning."""
    from labeling_functions.apply import compile_lfs
    from tagger.lf_tools import around_match

    tags = ["card_lost_or_stolen", "transfer_failed", "fee_charged"]
    lfs = compile_lfs([kw("kw:stolen", tags[0], "card stolen"),
                       LFSpec(id="re:fail", tag=tags[1], kind="regex", params={"pattern": r"transfer\w* (failed|fail)"}),
                       kw("kw:ru", tags[2], "комиссия"),
                       LFSpec(id="op", tag=tags[2], kind="metadata", params={"field": "channel", "equals": "chat"})], tags)
    stolen, fail, ru, meta = lfs
    filler = "Operator: Welcome to the bank, how can I help you today? " * 8
    text = filler + "\nCustomer: hi, my Card  stolen, yesterday.\nOperator: I've blocked it."
    span = stolen.match_span(text)
    assert text[span[0]:span[1]] == "Card  stolen"
    shown = around_match(text, span)
    assert "[[Card  stolen]]" in shown and shown.startswith("...") and len(shown) <= 140 + 10  # one line, cut near it
    assert "\n" not in shown and " | Customer: hi, my [[" in shown
    assert around_match("My transfers failed twice", fail.match_span("My transfers failed twice")) == \
        "My [[transfers failed]] twice"
    t = "Здравствуйте! Почему списана комиссия 50 ₽?"
    assert around_match(t, ru.match_span(t)) == "Здравствуйте! Почему списана [[комиссия]] 50 ₽?"
    assert stolen.match_span("my card was not stolen") is None and meta.match_span(text) is None
    plain = around_match(text, None)
    assert plain.startswith("Operator: Welcome") and plain.endswith("...") and "[[" not in plain
