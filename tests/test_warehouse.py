import json

import pandas as pd
import pytest

from data.demo import generate_demo
from data.io import SQLSource
from data.warehouse import (QUARANTINE, TAGS, TICKETS, count_rows, engine, ingest_folder, ingest_sql_interval,
                            init_target, upsert)
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
