import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import inspect, select

from data.demo import generate_demo
from data.io import SQLSource
from data.warehouse import (QUARANTINE, STALE_TAGS, TAGS, TICKETS, count_rows, engine, ingest_folder,
                            ingest_sql_interval, init_target, upsert)
from models.registry import Registry

Q = ("SELECT conversation_id AS ticket_id, opened_at AS created_at, operator_tag FROM conversations "
     "WHERE opened_at > :since AND opened_at <= :until")
T = ("SELECT m.conversation_id AS ticket_id, m.seq AS turn_index, m.sender AS speaker, m.body AS text FROM messages m "
     "JOIN conversations c ON c.conversation_id = m.conversation_id WHERE c.opened_at > :since AND c.opened_at <= :until")


def test_sql_ingest_is_incremental_and_idempotent(tmp_path):
    paths = generate_demo(tmp_path / "demo", n_pool=150, n_test_per_tag=1, seed=2)
    ws = f"sqlite:///{tmp_path}/ws.db"
    src = SQLSource(url=f"sqlite:///{paths['db']}", query=Q, turns_query=T)
    r1 = ingest_sql_interval(src, ws, "2026-01-01T16:00:00")
    assert 0 < r1["new"] < 150 and r1["watermark"] == "2026-01-01T16:00:00"
    r2 = ingest_sql_interval(src, ws, "2026-01-01T16:00:00")  # the same interval again
    assert r2["new"] == 0 and count_rows(ws, TICKETS) == r1["new"]
    r3 = ingest_sql_interval(src, ws, "2027-01-01T00:00:00")
    assert count_rows(ws, TICKETS) == 150 and r3["since"] == "2026-01-01T16:00:00"
    q = count_rows(ws, QUARANTINE)
    assert q == 3  # empty, oversized and missing-id rows of the demo's last interval
    ingest_sql_interval(src, ws, "2027-01-01T00:00:00", watermark_key="again")  # re-pull everything
    assert count_rows(ws, TICKETS) == 150
    with engine(ws).connect() as c:
        reasons = sorted(r[0] for r in c.execute(QUARANTINE.select().with_only_columns(QUARANTINE.c.reason)))
    # the three bad rows are stored once; in one full batch the duplicate id is now also caught as such
    assert reasons == ["duplicate_id", "empty_text", "missing_id", "oversized"]


def test_demo_generator_rejects_a_pool_too_small_for_gold_dev(tmp_path):
    with pytest.raises(ValueError, match="too small"):
        generate_demo(tmp_path, n_pool=100)


def test_drop_folder_files_are_ingested_once(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pd.DataFrame({"ticket_id": ["f1", "f2", ""], "text": ["card stolen", "fee?", "no id"]}).to_csv(inbox / "a.csv", index=False)
    (inbox / "notes.txt").write_text("ignored: not a ticket file")
    ws = f"sqlite:///{tmp_path}/ws.db"
    r = ingest_folder(inbox, ws)
    assert r == {"files": 1, "rows": 2, "new": 2, "quarantined": 1, "skipped_files": 0}
    assert ingest_folder(inbox, ws)["skipped_files"] == 1 and count_rows(ws, TICKETS) == 2


def test_upsert_updates_on_conflict(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    init_target(url)
    row = {"ticket_id": "a", "model_version": "v1", "tag": "x", "confidence": 0.4, "needs_review": True, "tagged_at": "t"}
    with engine(url).begin() as c:
        upsert(c, TAGS, [row])
    with engine(url).begin() as c:
        upsert(c, TAGS, [{**row, "tag": "y", "confidence": 0.9, "needs_review": False}])
    with engine(url).connect() as c:
        assert c.execute(TAGS.select()).fetchall() == [("a", "v1", "y", 0.9, False, "t")]


def test_registry_promotes_only_when_not_worse(tmp_path):
    def fake_run(name):
        d = tmp_path / name
        (d / "model").mkdir(parents=True)
        (d / "model" / "model_config.json").write_text("{}")
        (d / "metrics.json").write_text(json.dumps({"x": 1}))
        return d

    reg = Registry(tmp_path / "reg")
    v1 = reg.register(fake_run("r1"), dev_score=0.80)
    assert reg.promote_if_not_worse(v1)["promoted"] and reg.champion()["version"] == v1
    v2 = reg.register(fake_run("r2"), dev_score=0.79)
    d = reg.promote_if_not_worse(v2)
    assert not d["promoted"] and d["champion_dev_score"] == 0.80 and reg.champion()["version"] == v1
    v3 = reg.register(fake_run("r3"), dev_score=0.80)
    assert reg.promote_if_not_worse(v3)["promoted"] and reg.champion()["version"] == v3
    assert reg.register(tmp_path / "r3", dev_score=0.5) == v3  # registering a run twice is a no-op
    assert len(reg.load()["decisions"]) == 3


# --- re-sent tickets ------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgres"])
def ws_url(request, tmp_path):
    """A fresh workspace database: SQLite, and a real PostgreSQL (skipped where it is not installed)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ws.db"
    return request.getfixturevalue("postgres")()


def _tag_rows(url: str, ids: list[str], version: str = "v1") -> None:
    init_target(url)
    with engine(url).begin() as c:
        upsert(c, TAGS, [{"ticket_id": i, "model_version": version, "tag": "card_lost", "confidence": 0.9,
                          "needs_review": False, "tagged_at": "2026-01-01T00:00:00+00:00"} for i in ids])


def _texts(url: str) -> dict[str, str]:
    with engine(url).connect() as c:
        return dict(c.execute(select(TICKETS.c.ticket_id, TICKETS.c.text)).fetchall())


def test_a_resent_ticket_with_changed_text_is_updated_and_its_tags_go_stale(tmp_path, ws_url):
    from tagger.batch import untagged_ids

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pd.DataFrame({"ticket_id": ["t1", "t2"], "text": ["card stolen", "fee charged"]}).to_csv(inbox / "a.csv", index=False)
    assert ingest_folder(inbox, ws_url)["new"] == 2
    _tag_rows(ws_url, ["t1", "t2"])  # batch tagging has tagged both
    assert untagged_ids(ws_url, ws_url, "v1") == []

    pd.DataFrame({"ticket_id": ["t1", "t2", "t3"], "text": ["card stolen at the ATM yesterday", "fee charged", "new one"]}
                 ).to_csv(inbox / "b.csv", index=False)
    r = ingest_folder(inbox, ws_url)
    assert r == {"files": 1, "rows": 3, "new": 1, "quarantined": 0, "skipped_files": 1, "updated": 1, "tags_stale": 1}
    assert _texts(ws_url) == {"t1": "card stolen at the ATM yesterday", "t2": "fee charged", "t3": "new one"}
    with engine(ws_url).connect() as c:
        assert [r.ticket_id for r in c.execute(select(TAGS))] == ["t2"]
        stale = c.execute(select(STALE_TAGS)).fetchall()
    assert [(x.ticket_id, x.model_version, x.tag) for x in stale] == [("t1", "v1", "card_lost")] and stale[0].stale_at
    assert untagged_ids(ws_url, ws_url, "v1") == ["t1", "t3"]  # batch tagging re-tags the changed ticket

    # only the operator tag changed: an update, but the text (and so the tags) did not change
    pd.DataFrame({"ticket_id": ["t2"], "text": ["fee charged"], "operator_tag": ["fee"]}).to_csv(inbox / "c.csv", index=False)
    r = ingest_folder(inbox, ws_url)
    assert (r["new"], r["updated"], r["tags_stale"]) == (0, 1, 0)
    with engine(ws_url).connect() as c:
        assert c.execute(select(TICKETS.c.operator_tag).where(TICKETS.c.ticket_id == "t2")).scalar() == "fee"
        assert [r.ticket_id for r in c.execute(select(TAGS))] == ["t2"]
    # the same content again: nothing is updated
    pd.DataFrame({"ticket_id": ["t2"], "text": ["fee charged"], "operator_tag": ["fee"]}).to_csv(inbox / "d.csv", index=False)
    assert "updated" not in ingest_folder(inbox, ws_url)
    # two versions in one file: the second is quarantined and neither replaces the stored text
    pd.DataFrame({"ticket_id": ["t3", "t3"], "text": ["version a", "version b"]}).to_csv(inbox / "e.csv", index=False)
    r = ingest_folder(inbox, ws_url)
    assert r["quarantined"] == 1 and "updated" not in r and _texts(ws_url)["t3"] == "new one"


def test_a_resent_ticket_from_sql_is_updated_and_counted(tmp_path, ws_url):
    src_db = tmp_path / "src.db"
    con = sqlite3.connect(src_db)
    con.executescript("CREATE TABLE t (ticket_id TEXT, text TEXT, created_at TEXT);"
                      "INSERT INTO t VALUES ('s1', 'my card is blocked', '2026-01-01T10:00:00'),"
                      "                     ('s2', 'fee question', '2026-01-01T11:00:00');")
    con.commit()
    src = SQLSource(url=f"sqlite:///{src_db}", query="SELECT * FROM t WHERE created_at > :since AND created_at <= :until")
    r1 = ingest_sql_interval(src, ws_url, "2026-01-02T00:00:00")
    assert (r1["new"], r1["updated"], r1["tags_stale"]) == (2, 0, 0)
    _tag_rows(ws_url, ["s1", "s2"], "v7")
    # the source re-sends s1, edited, in a later interval
    con.execute("UPDATE t SET text = 'my card is blocked, PIN tried 3 times', created_at = '2026-01-02T09:00:00' "
                "WHERE ticket_id = 's1'")
    con.commit()
    con.close()
    r2 = ingest_sql_interval(src, ws_url, "2026-01-03T00:00:00")
    assert (r2["rows"], r2["new"], r2["updated"], r2["tags_stale"]) == (1, 0, 1, 1)
    assert _texts(ws_url)["s1"] == "my card is blocked, PIN tried 3 times"
    assert count_rows(ws_url, TICKETS) == 2 and count_rows(ws_url, STALE_TAGS) == 1 and count_rows(ws_url, TAGS) == 1


# --- no raw PII at rest ---------------------------------------------------------------------------

SECRETS = {  # what must not be stored anywhere, and (second) other spellings of it that must not be either
    "card": ("5469 3800 1234 5678", ["5469380012345678"]),
    "phone": ("+7 (916) 987-65-43", ["9169876543", "987-65-43"]),
    "email": ("olga.smirnova@example.com", ["olga.smirnova"]),
    "iban": ("DE89 3704 0044 0532 0130 00", ["DE89370400440532013000", "0532 0130"]),
    "account": ("40817810099910004312", []),
    "passport": ("45 08 765432", ["765432"]),
    "snils": ("112-233-445 95", ["11223344595"]),
    "inn": ("7707083893", []),
    "name": ("Смирнова Ольга Петровна", ["Смирнова", "Петровна"]),
    "obfuscated": ("ivan [at] bank-mail [dot] ru", ["bank-mail"]),
}


def _scan_text(url: str, files: list[Path]) -> dict[str, str]:
    """Every value of every table in the workspace database, and every file's text."""
    out = {}
    eng = engine(url)
    with eng.connect() as c:
        for table in inspect(eng).get_table_names():
            rows = c.exec_driver_sql(f'SELECT * FROM "{table}"').fetchall()
            out[f"table {table}"] = "\n".join(" | ".join(str(v) for v in r) for r in rows)
    for f in files:
        out[f"file {f.name}"] = f.read_bytes().decode("utf-8", "ignore")
    return out


def test_ingest_keeps_no_raw_pii_in_any_table_or_file(tmp_path, encoder):
    import numpy as np

    from models.end_model import ModelInfo, frozen_model, train_head
    from tagger.tagging import tag_file

    S = {k: v[0] for k, v in SECRETS.items()}
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # CSV: PII in the text and in extra (metadata) columns; bad rows with PII: no id, oversized, malformed
    csv_rows = pd.DataFrame({
        "ticket_id": ["c1", "", "c3"],
        "text": [f"card {S['card']} was stolen, call {S['phone']}", f"no id here, iban {S['iban']}",
                 f"account {S['account']} " + "blah " * 5000],
        "customer_phone": [S["phone"], "", ""], "note": [f"mail {S['email']}", "", ""], "inn": [S["inn"], "", ""]})
    csv_text = csv_rows.to_csv(index=False) + f"c4,passport {S['passport']},x,y,z,too many\n"
    (inbox / "a.csv").write_text(csv_text)
    # JSONL: PII in turns and nested metadata; a line that is not JSON and a bad turn, both with PII
    jl = [{"ticket_id": "j1", "turns": [{"speaker": "customer", "text": f"I am {S['name']}, SNILS {S['snils']}"},
                                        {"speaker": "operator", "text": f"write to {S['obfuscated']}"}],
           "profile": {"passport": S["passport"], "emails": [S["email"]], "segment": "retail"}},
          {"ticket_id": "j2", "turns": [{"speaker": f"robot {S['phone']}", "text": "x"}]}]
    (inbox / "b.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in jl)
                                   + f'\n{{"ticket_id": "j3", "text": "card {S["card"]}"\n')
    # SQL source with dialogue turns
    src_db = tmp_path / "src.db"
    con = sqlite3.connect(src_db)
    con.executescript("CREATE TABLE conv (id TEXT, at TEXT, contact TEXT); CREATE TABLE msg (cid TEXT, seq INT, who TEXT, body TEXT);")
    con.execute("INSERT INTO conv VALUES ('q1', '2026-01-01T10:00:00', ?)", (S["email"],))
    con.executemany("INSERT INTO msg VALUES ('q1', ?, ?, ?)", [
        (0, "customer", f"my INN is {S['inn']} and IBAN {S['iban']}"), (1, "operator", f"thank you, {S['name']}")])
    con.commit()
    con.close()
    src = SQLSource(url=f"sqlite:///{src_db}",
                    query="SELECT id AS ticket_id, at AS created_at, contact FROM conv WHERE at > :since AND at <= :until",
                    turns_query="SELECT cid AS ticket_id, seq AS turn_index, who AS speaker, body AS text FROM msg")

    ws = f"sqlite:///{tmp_path}/ws.db"
    folder = ingest_folder(inbox, ws)
    sql = ingest_sql_interval(src, ws, "2026-02-01T00:00:00")
    assert (folder["new"], folder["quarantined"], sql["new"]) == (2, 5, 1)
    # quarantine.csv as `tagger tag` writes it (OUTPUT.quarantine.csv), for both files
    texts, tags = ["my card was stolen", "card lost in a shop", "fee charged twice", "why a fee"], ["card", "fee"]
    W, b = train_head(encoder(texts), np.eye(2, dtype=np.float32)[[0, 0, 1, 1]])
    model_dir = frozen_model(ModelInfo(tags=tags, mode="frozen", max_length=64), W, b).save(tmp_path / "model")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for name in ("a.csv", "b.jsonl"):
        _, q, qpath = tag_file(model_dir, inbox / name, out_dir / f"{name}.tags.csv", precision="fp32")
        assert qpath is not None and len(q)

    db_file = tmp_path / "ws.db"
    scanned = _scan_text(ws, sorted(out_dir.iterdir()) + sorted(tmp_path.glob("ws.db*")))
    assert len(scanned) >= 7 and any(k.startswith("file ws.db") for k in scanned) and db_file.exists()
    leaks = [(where, s) for where, text in scanned.items() for _, (secret, spellings) in SECRETS.items()
             for s in [secret, *spellings] if s in text]
    assert not leaks, leaks
    # and the data is masked, not dropped
    with engine(ws).connect() as c:
        t = {r.ticket_id: r for r in c.execute(select(TICKETS))}
        reasons = sorted(r[0] for r in c.execute(select(QUARANTINE.c.reason)))
    assert reasons == ["bad_json", "bad_turns", "malformed_row", "missing_id", "oversized"]
    assert "[CARD]" in t["c1"].text and "[PHONE]" in t["c1"].text
    assert json.loads(t["c1"].metadata) == {"customer_phone": "[PHONE]", "note": "mail [EMAIL]", "inn": "[INN]"}
    j1_turns = json.loads(t["j1"].turns)
    assert j1_turns[0]["text"] == "I am [NAME], SNILS [SNILS]" and j1_turns[1]["text"] == "write to [EMAIL]"
    assert json.loads(t["j1"].metadata)["profile"] == {"passport": "[PASSPORT]", "emails": ["[EMAIL]"], "segment": "retail"}
    assert "[INN]" in t["q1"].turns and "[IBAN]" in t["q1"].text and json.loads(t["q1"].metadata)["contact"] == "[EMAIL]"
