import json
import sqlite3

import pandas as pd
import pytest

from data.io import ReaderError, SQLSource, load_tags, load_tickets, write_table
from data.pii import luhn_ok, mask_pii
from data.schema import RAW_LIMIT, IngestLimits, quarantine_excerpt, render_dialogue


def test_render_dialogue_is_ordered_speaker_lines():
    turns = [{"speaker": "customer", "text": " my card is gone "}, {"speaker": "operator", "text": "Blocked."}]
    assert render_dialogue(turns) == "customer: my card is gone\noperator: Blocked."
    assert render_dialogue(turns, ["customer"]) == "customer: my card is gone"


def test_pii_masking_basic_types():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    s = mask_pii("card 4111 1111 1111 1111, mail anna.k@mail.de, call +44 7123 456789, iban GB29 NWBK 6016 1331 9268 19")
    assert "4111" not in s and "anna" not in s and "7123" not in s and "NWBK" not in s
    assert {"[CARD]", "[EMAIL]", "[PHONE]", "[IBAN]"} <= set(s.replace(",", " ").split())
    # short numbers (amounts, dates) are left alone
    assert mask_pii("I paid 120 on the 14th, ref 2026") == "I paid 120 on the 14th, ref 2026"


def test_csv_quarantine_reasons(tmp_path):
    p = tmp_path / "t.csv"
    raw = (b"ticket_id,text,operator_tag\n"
           b"a1,my card was stolen,lost\n"
           b",no id here,lost\n"
           b"a1,duplicate id,lost\n"
           b"a3,,lost\n"
           b"a4,bad bytes \xff\xfe here,lost\n"
           b"a5," + b"x" * 300 + b",lost\n"
           b"a6,too,many,fields,here\n"
           b"a7,fine text,\n")
    p.write_bytes(raw)
    t, q = load_tickets(p, IngestLimits(max_chars=200))
    assert t["ticket_id"].tolist() == ["a1", "a7"]
    assert pd.isna(t["operator_tag"].iloc[1])
    reasons = sorted(q["reason"])
    assert reasons == sorted(["missing_id", "duplicate_id", "empty_text", "non_utf8", "oversized", "malformed_row"])
    # every input row is accounted for
    assert len(t) + len(q) == 8


def test_jsonl_dialogues_and_bad_lines(tmp_path):
    p = tmp_path / "t.jsonl"
    good = {"ticket_id": "d1", "turns": [{"speaker": "customer", "text": "hi, pin blocked"},
                                         {"speaker": "operator", "text": "unblocked"}], "channel": "chat"}
    lines = [json.dumps(good).encode(), b"{not json", b"\xff\xfe{}", json.dumps([1, 2]).encode(),
             json.dumps({"ticket_id": "d2", "turns": [{"speaker": "robot", "text": "x"}]}).encode(),
             json.dumps({"ticket_id": "d3", "text": 12345}).encode(),
             json.dumps({"ticket_id": "d4", "turns": "[]"}).encode()]
    p.write_bytes(b"\n".join(lines) + b"\n")
    t, q = load_tickets(p)
    assert t["ticket_id"].tolist() == ["d1"]
    assert t["text"].iloc[0] == "customer: hi, pin blocked\noperator: unblocked"
    assert json.loads(t["metadata"].iloc[0]) == {"channel": "chat"}
    assert sorted(q["reason"]) == sorted(["bad_json", "non_utf8", "bad_json", "bad_turns", "non_text", "bad_turns"])


def test_parquet_roundtrip_and_non_text(tmp_path):
    df = pd.DataFrame({"ticket_id": ["p1", "p2"], "text": ["refund missing", "fee on my account"]})
    write_table(df, tmp_path / "t.parquet")
    t, q = load_tickets(tmp_path / "t.parquet")
    assert t["text"].tolist() == ["refund missing", "fee on my account"] and q.empty


def test_sql_table_and_long_turns(tmp_path):
    db = tmp_path / "s.db"
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE conv (id TEXT, op TEXT);
        CREATE TABLE msg (cid TEXT, seq INT, who TEXT, body TEXT);
        INSERT INTO conv VALUES ('c1', 'fee_charged'), ('c2', NULL), ('c3', 'x');
        INSERT INTO msg VALUES ('c1', 1, 'operator', 'it is the ATM fee'), ('c1', 0, 'customer', 'why a fee? my email is a.b@c.com'),
                               ('c2', 0, 'customer', 'card declined');
    """)
    con.commit()
    con.close()
    src = SQLSource(url=f"sqlite:///{db}", query="SELECT id AS ticket_id, op AS operator_tag FROM conv",
                    turns_query="SELECT cid AS ticket_id, seq AS turn_index, who AS speaker, body AS text FROM msg")
    t, q = load_tickets(src)
    assert t["ticket_id"].tolist() == ["c1", "c2"]
    assert t["text"].iloc[0] == "customer: why a fee? my email is [EMAIL]\noperator: it is the ATM fee"
    assert q["reason"].tolist() == ["empty_text"] and q["ticket_id"].tolist() == ["c3"]
    t2, _ = load_tickets(SQLSource(url=f"sqlite:///{db}", table="conv").__class__(
        url=f"sqlite:///{db}", query="SELECT id AS ticket_id, op AS text FROM conv"))
    assert t2["ticket_id"].tolist() == ["c1", "c3"]


def test_sql_source_needs_table_or_query():
    with pytest.raises(ValueError, match="exactly one"):
        SQLSource(url="sqlite://")


def test_missing_columns_and_files_are_clear_errors(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("id,text\n1,hello\n")
    with pytest.raises(ValueError, match="no 'ticket_id' column"):
        load_tickets(p)
    with pytest.raises(FileNotFoundError):
        load_tickets(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="unsupported file type"):
        (tmp_path / "x.xlsx").write_text("x")
        load_tickets(tmp_path / "x.xlsx")


def test_tags_file_validation(tmp_path):
    p = tmp_path / "tags.csv"
    p.write_text("tag,description,fees_group\na,A,True\nb,B,False\n")
    t = load_tags(p)
    assert t["tag"].tolist() == ["a", "b"] and t["fees_group"].tolist() == [True, False]
    p.write_text("tag\na\na\n")
    with pytest.raises(ValueError, match="duplicate tags"):
        load_tags(p)


ONE_MB = "why was I charged a fee, card 4111 1111 1111 1111 " + "blah " * 210_000  # > 1,000,000 characters


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_1mb_ticket_is_quarantined_as_oversized_in_every_format(tmp_path, fmt):
    """Python's csv module stops at 131,072 characters a field, and pandas then dropped the row without a
    word; now the 1 MB ticket is read and quarantined like in JSONL and Parquet, and no row is lost."""
    df = pd.DataFrame({"ticket_id": ["t1", "huge", "t3"], "text": ["card stolen", ONE_MB, "fee on my account"]})
    path = write_table(df, tmp_path / f"pool.{fmt}")
    t, q = load_tickets(path)
    assert t["ticket_id"].tolist() == ["t1", "t3"]
    assert q["ticket_id"].tolist() == ["huge"] and q["reason"].tolist() == ["oversized"]
    assert f"{len(ONE_MB.strip())} chars > max_chars=20000" in q["detail"].iloc[0]
    raw = q["raw"].iloc[0]
    assert len(raw) <= RAW_LIMIT + 3 and "4111" not in raw  # cut and PII-masked
    assert len(t) + len(q) == len(df)


def test_csv_rows_just_over_the_csv_field_limit_are_not_lost(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"ticket_id": ["a", "b", "c"], "text": ["x" * 131_000, "y" * 131_073, "ok"]}).to_csv(p, index=False)
    t, q = load_tickets(p, IngestLimits(max_chars=200_000))
    assert t["ticket_id"].tolist() == ["a", "b", "c"] and q.empty
    t, q = load_tickets(p)
    assert t["ticket_id"].tolist() == ["c"] and q["reason"].tolist() == ["oversized", "oversized"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_reader_errors_name_the_file(tmp_path, fmt):
    empty = tmp_path / f"empty_pool.{fmt}"
    empty.write_bytes(b"")  # pandas said only "No columns to parse from file"
    with pytest.raises(ValueError, match=f"empty_pool.{fmt}: "):
        load_tickets(empty)
    broken = tmp_path / f"broken.{fmt}"
    broken.write_bytes({"csv": b"\n\n\n", "jsonl": b"\n", "parquet": b"PAR1 not really"}[fmt])
    with pytest.raises(ValueError, match=f"broken.{fmt}: "):
        load_tickets(broken)
    if fmt == "parquet":
        with pytest.raises(ReaderError, match="broken.parquet: cannot read as PARQUET"):
            load_tickets(broken)


def test_csv_quote_left_open_is_quarantined_not_dropped(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(b'ticket_id,text\na1,fine\n\na2,"multi\nline ok"\na3,"never closed\na4,lost before\n')
    t, q = load_tickets(p)
    assert t["ticket_id"].tolist() == ["a1", "a2"] and t["text"].tolist() == ["fine", "multi\nline ok"]
    assert q["reason"].tolist() == ["malformed_row"] and q["row"].tolist() == [6]
    assert "opened on line 6 is never closed" in q["detail"].iloc[0]


def test_sql_reader_errors_name_the_source(tmp_path):
    db = tmp_path / "s.db"
    sqlite3.connect(db).close()
    with pytest.raises(ReaderError, match="s.db:nope"):
        load_tickets(SQLSource(url=f"sqlite:///{db}", table="nope"))


def test_pii_is_masked_in_turns_metadata_and_quarantine(tmp_path):
    p = tmp_path / "t.jsonl"
    rows = [{"ticket_id": "d1", "turns": [{"speaker": "customer", "text": "card 4111 1111 1111 1111 lost"},
                                          {"speaker": "operator", "text": "blocked"}],
             "phone": "+7 916 123-45-67", "customer": {"email": "anna.k@mail.de", "tier": "gold"}, "inn": 7707083893},
            {"ticket_id": "", "text": "no id, mail ivan@mail.ru"},
            {"ticket_id": "d3", "turns": [{"speaker": "robot +44 7123 456789", "text": "x"}]}]
    p.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"ticket_id": "d4", "text": "4111 1111 1111 1111"\n')
    t, q = load_tickets(p)
    turns = json.loads(t["turns"].iloc[0])
    assert turns[0]["text"] == "card [CARD] lost" and turns[1]["text"] == "blocked"
    assert json.loads(t["metadata"].iloc[0]) == {"phone": "[PHONE]", "inn": "[INN]",
                                                 "customer": {"email": "[EMAIL]", "tier": "gold"}}
    assert sorted(q["reason"]) == ["bad_json", "bad_turns", "missing_id"]
    dump = q.to_csv(index=False)
    for secret in ("ivan@mail.ru", "4111", "7123"):
        assert secret not in dump
    t, q = load_tickets(p, IngestLimits(mask_pii=False))  # masking off: kept as written
    assert "4111 1111 1111 1111" in t["turns"].iloc[0] and "ivan@mail.ru" in q.to_csv(index=False)


def test_metadata_with_bytes_that_are_not_utf8_is_masked_not_a_crash(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(b"ticket_id,text,note\na1,card lost,call \xff +7 916 123 45 67\n")
    t, q = load_tickets(p)
    assert json.loads(t["metadata"].iloc[0]) == {"note": "call \\xff [PHONE]"} and q.empty


def test_quarantine_excerpt_never_keeps_half_a_card():
    # the excerpt is cut before masking at a character no PII spans, so a card cut in two is dropped
    raw = repr({"ticket_id": "x", "text": "a" * 1990 + "; card 4111 1111 1111 1111 " + "b" * 5000})
    out = quarantine_excerpt(raw, mask=True)
    assert len(out) <= RAW_LIMIT + 3 and "4111" not in out
    raw = "x" * 300 + "; card 4111 1111 1111 1111; " + "y" * 3000  # cut after the second ";", then masked
    assert quarantine_excerpt(raw, mask=True) == "x" * 300 + "; card [CARD];..."
    assert quarantine_excerpt(raw, mask=False) == raw[:RAW_LIMIT] + "..."
    assert quarantine_excerpt("short, card 4111 1111 1111 1111", mask=True) == "short, card [CARD]"


def test_tagger_tag_reads_and_quarantines_a_1mb_ticket_in_every_format(tmp_path, encoder):
    """``tagger tag``'s reading path (tagger.tagging.tag_file): the 1 MB ticket is quarantined as
    ``oversized`` (OUTPUT.quarantine.csv), the other tickets are tagged, none is lost."""
    import numpy as np

    from models.end_model import ModelInfo, frozen_model, train_head
    from tagger.tagging import tag_file

    texts, tags = ["my card was stolen", "card lost in a shop", "fee charged twice", "why a fee"], ["card", "fee"]
    W, b = train_head(encoder(texts), np.eye(2, dtype=np.float32)[[0, 0, 1, 1]])
    model_dir = frozen_model(ModelInfo(tags=tags, mode="frozen", max_length=64), W, b).save(tmp_path / "model")
    df = pd.DataFrame({"ticket_id": ["t1", "huge", "t3"], "text": ["card stolen", ONE_MB, "fee on my account"]})
    for fmt in ("csv", "jsonl", "parquet"):
        src = write_table(df, tmp_path / f"in.{fmt}")
        out, q, qpath = tag_file(model_dir, src, tmp_path / f"tags_{fmt}.csv", precision="fp32")
        assert out["ticket_id"].tolist() == ["t1", "t3"] and set(out["tag"]) <= set(tags)
        assert q["reason"].tolist() == ["oversized"] and qpath is not None
        written = pd.read_csv(qpath)
        assert written["ticket_id"].tolist() == ["huge"] and "4111" not in qpath.read_text()
