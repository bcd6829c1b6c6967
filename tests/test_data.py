import json
import sqlite3

import pandas as pd
import pytest

from data.io import SQLSource, load_tags, load_tickets, write_table
from data.pii import luhn_ok, mask_pii
from data.schema import IngestLimits, render_dialogue


def test_render_dialogue_is_ordered_speaker_lines():
    turns = [{"speaker": "customer", "text": " my card is gone "}, {"speaker": "operator", "text": "Blocked."}]
    assert render_dialogue(turns) == "customer: my card is gone\noperator: Blocked."
    assert render_dialogue(turns, ["customer"]) == "customer: my card is gone"


def test_pii_masking_cards_are_luhn_checked():
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
