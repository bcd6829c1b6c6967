import json
import re
import sqlite3

import pandas as pd

from data.demo import DEMO_TICKETS_QUERY, DEMO_TURNS_QUERY, TAGS, generate_demo
from data.io import SQLSource, load_tags, load_tickets


def test_demo_database_properties(tmp_path):
    paths = generate_demo(tmp_path, n_pool=1200, n_test_per_tag=5, seed=11)
    con = sqlite3.connect(paths["db"])
    conv = pd.read_sql("SELECT * FROM conversations", con)
    msgs = pd.read_sql("SELECT * FROM messages", con)
    con.close()
    assert len(TAGS) >= 8
    assert set(msgs["sender"]) == {"customer", "operator"}
    assert len(conv) == 1200 + 4  # plus the four deliberately bad rows
    per_conv = msgs.groupby("conversation_id").size()
    assert (per_conv >= 2).mean() > 0.95 and per_conv.max() >= 4  # multi-turn
    body = " ".join(msgs["body"])
    assert re.search(r"\b\S+@\S+\.\w+", body) and re.search(r"\+\d{2}", body) and "NWBK" in body
    assert re.search(r"\b\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}\b|\b\d{16}\b", body)
    # ingest path: SQL -> normalized tickets, PII masked, bad rows quarantined
    tickets, q = load_tickets(SQLSource(url=f"sqlite:///{paths['db']}", query=DEMO_TICKETS_QUERY,
                                        turns_query=DEMO_TURNS_QUERY))
    assert len(tickets) == 1200
    assert sorted(q["reason"]) == ["duplicate_id", "empty_text", "missing_id", "oversized"]
    assert not tickets["text"].str.contains("@").any() and tickets["text"].str.contains(r"\[EMAIL\]").any()
    # operator tags: about 80% right where present, errors mostly to the confusable tags
    dev, _ = load_tickets(paths["gold_dev"], label_column="tag")
    assert dev["tag"].value_counts().eq(10).all() and set(dev["ticket_id"]) <= set(tickets["ticket_id"])
    test, _ = load_tickets(paths["gold_test"], label_column="tag")
    assert not set(test["ticket_id"]) & set(tickets["ticket_id"])
    assert set(load_tags(paths["tags"])["tag"]) == set(TAGS)


def test_operator_noise_rate_and_confusions(tmp_path):
    import random

    from data.demo import _operator_tag

    rng = random.Random(0)
    tags = [rng.choice(list(TAGS)) for _ in range(4000)]
    ops = [_operator_tag(rng, t, 0.8) for t in tags]
    present = [(t, o) for t, o in zip(tags, ops) if o is not None]
    acc = sum(t == o for t, o in present) / len(present)
    assert 0.76 < acc < 0.84
    wrong = [(t, o) for t, o in present if t != o]
    confusable = sum(o in TAGS[t]["confusable"] for t, o in wrong) / len(wrong)
    assert confusable > 0.6


def test_generator_is_seeded(tmp_path):
    a = generate_demo(tmp_path / "a", n_pool=50, n_test_per_tag=1, n_dev_per_tag=2, seed=5)
    b = generate_demo(tmp_path / "b", n_pool=50, n_test_per_tag=1, n_dev_per_tag=2, seed=5)
    assert a["gold_test"].read_text() == b["gold_test"].read_text()
    assert json.loads(a["gold_dev"].read_text().splitlines()[0]) == json.loads(b["gold_dev"].read_text().splitlines()[0])
