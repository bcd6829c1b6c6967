"""The database paths on a real PostgreSQL server (tests/pg_server.py), against the same runs on SQLite:
incremental SQL ingest from a PostgreSQL source into a PostgreSQL workspace, quarantine, the drop
folder, ``ON CONFLICT`` upserts, and champion-model tagging shards written to a PostgreSQL target."""
import json
import sqlite3

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, select

from data.demo import generate_demo
from data.io import SQLSource
from data.warehouse import (QUARANTINE, TAGS, TICKETS, count_rows, engine, ingest_folder, ingest_sql_interval,
                            init_target, upsert)
from models.end_model import ModelInfo, frozen_model, train_head
from models.registry import Registry
from tagger.batch import tag_shard, untagged_ids

Q = ("SELECT conversation_id AS ticket_id, opened_at AS created_at, operator_tag FROM conversations "
     "WHERE opened_at > :since AND opened_at <= :until")
T = ("SELECT m.conversation_id AS ticket_id, m.seq AS turn_index, m.sender AS speaker, m.body AS text FROM messages m "
     "JOIN conversations c ON c.conversation_id = m.conversation_id WHERE c.opened_at > :since AND c.opened_at <= :until")


def _copy_demo_db(sqlite_path, url: str) -> None:
    """The demo's support database (SQLite) copied table by table into ``url``."""
    con = sqlite3.connect(sqlite_path)
    dst = create_engine(url)
    for table in ("conversations", "messages"):
        pd.read_sql_query(f"SELECT * FROM {table}", con).to_sql(table, dst, index=False)
    con.close()
    dst.dispose()


def _rows(url: str, table, source: str) -> list[tuple]:
    """Every row but its ingest time, with the source's name (it differs by URL) replaced by ``SRC``."""
    cols = [col for col in table.columns if col.name != "ingested_at"]
    with engine(url).connect() as c:
        return sorted(tuple(v.replace(source, "SRC") if isinstance(v, str) else v for v in r)
                      for r in c.execute(select(*cols)))


def test_postgres_sql_ingest_matches_sqlite(tmp_path, postgres):
    paths = generate_demo(tmp_path / "demo", n_pool=150, n_test_per_tag=1, seed=2)
    src_pg = postgres()
    _copy_demo_db(paths["db"], src_pg)
    results = {}
    for name, src_url, ws in (("sqlite", f"sqlite:///{paths['db']}", f"sqlite:///{tmp_path}/ws.db"),
                              ("postgres", src_pg, postgres())):
        src = SQLSource(url=src_url, query=Q, turns_query=T)
        r1 = ingest_sql_interval(src, ws, "2026-01-01T16:00:00")
        r2 = ingest_sql_interval(src, ws, "2026-01-01T16:00:00")  # the same interval again adds nothing
        r3 = ingest_sql_interval(src, ws, "2027-01-01T00:00:00")
        ingest_sql_interval(src, ws, "2027-01-01T00:00:00", watermark_key="again")  # re-pull everything
        assert r2["new"] == 0 and r1["new"] + r3["new"] == count_rows(ws, TICKETS) == 150
        with engine(ws).connect() as c:
            reasons = sorted(r[0] for r in c.execute(QUARANTINE.select().with_only_columns(QUARANTINE.c.reason)))
        assert reasons == ["duplicate_id", "empty_text", "missing_id", "oversized"]
        results[name] = (r1["new"], r3["new"], _rows(ws, TICKETS, src.describe()),
                         _rows(ws, QUARANTINE, src.describe()))
    pg_tickets = results["postgres"][2]
    assert 0 < results["postgres"][0] < 150 and len(results["postgres"][3]) == 4
    with engine(ws).connect() as c:
        assert {r[0] for r in c.execute(select(TICKETS.c.source))} == {src.describe()}
    assert results["postgres"] == results["sqlite"]  # same rows, texts, turns and quarantine, row for row
    assert all("@" not in t[1] for t in pg_tickets)  # e-mails were masked on the way in


def test_postgres_drop_folder_and_upsert(tmp_path, postgres):
    ws = postgres()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pd.DataFrame({"ticket_id": ["f1", "f2", ""], "text": ["card stolen", "fee?", "no id"]}).to_csv(inbox / "a.csv", index=False)
    assert ingest_folder(inbox, ws) == {"files": 1, "rows": 2, "new": 2, "quarantined": 1, "skipped_files": 0}
    assert ingest_folder(inbox, ws)["skipped_files"] == 1 and count_rows(ws, TICKETS) == 2
    row = {"ticket_id": "a", "model_version": "v1", "tag": "x", "confidence": 0.4, "needs_review": True, "tagged_at": "t"}
    init_target(ws)
    with engine(ws).begin() as c:
        upsert(c, TAGS, [row])
    with engine(ws).begin() as c:
        upsert(c, TAGS, [{**row, "tag": "y", "confidence": 0.9, "needs_review": False}])
        upsert(c, TAGS, [{**row, "tag": "z"}], update=False)  # keep the old row
    with engine(ws).connect() as c:
        assert c.execute(TAGS.select()).fetchall() == [("a", "v1", "y", 0.9, False, "t")]


def test_postgres_tagging_shards_match_sqlite(tmp_path, postgres, encoder):
    n = 72  # tickets: each is embedded and tagged three times per database (a shard is retried)
    paths = generate_demo(tmp_path / "demo", n_pool=n, n_test_per_tag=1, n_dev_per_tag=2, seed=4)
    src = SQLSource(url=f"sqlite:///{paths['db']}", query=Q, turns_query=T)
    ws_sqlite = f"sqlite:///{tmp_path}/ws.db"
    ingest_sql_interval(src, ws_sqlite, "2027-01-01T00:00:00")
    with engine(ws_sqlite).connect() as c:  # a small head on the operator tags, enough to give real tags
        lab = pd.DataFrame(c.execute(select(TICKETS.c.text, TICKETS.c.operator_tag)
                                     .where(TICKETS.c.operator_tag.is_not(None))).fetchall(), columns=["text", "tag"])
    tags = sorted(lab["tag"].unique())
    W, b = train_head(encoder(lab["text"].tolist()), np.eye(len(tags), dtype=np.float32)[[tags.index(t) for t in lab["tag"]]])
    run = tmp_path / "run"
    frozen_model(ModelInfo(tags=tags, mode="frozen", max_length=64), W, b).save(run / "model")
    (run / "metrics.json").write_text(json.dumps({"note": "test model"}))
    reg = Registry(tmp_path / "registry")
    version = reg.register(run, dev_score=0.5)
    reg.promote_if_not_worse(version)
    out = {}
    for name, ws, target in (("sqlite", ws_sqlite, f"sqlite:///{tmp_path}/target.db"),
                             ("postgres", postgres(), postgres())):
        ingest_sql_interval(src, ws, "2027-01-01T00:00:00")
        ids = untagged_ids(ws, target, version)
        assert len(ids) == n
        shards = [ids[:30], ids[30:]]
        got = [tag_shard(s, ws, target, str(reg.root), version, precision="fp32") for s in shards]
        tag_shard(shards[0], ws, target, str(reg.root), version, precision="fp32")  # a retried shard
        assert sum(g["tagged"] for g in got) == n == count_rows(target, TAGS)
        assert untagged_ids(ws, target, version) == []
        with engine(target).connect() as c:
            out[name] = sorted((r.ticket_id, r.tag, round(r.confidence, 5), r.needs_review)
                               for r in c.execute(TAGS.select()))
    assert len({r[1] for r in out["postgres"]}) > 5  # real, varied tags
    assert out["postgres"] == out["sqlite"]
