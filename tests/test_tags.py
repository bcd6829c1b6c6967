"""The tag set over time through the CLI: add a tag with its examples, rename, merge, retire; the tag
list, the gold files and the LF store stay consistent, and a bad request changes nothing."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from labeling_functions.spec import LFSpec
from labeling_functions.store import LFStore

ROOT = Path(__file__).resolve().parents[1]


def tagger(*args):
    return subprocess.run([sys.executable, "-m", "tagger.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def _setup(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    pd.DataFrame({"tag": ["fee", "card"], "description": ["a fee", "a card"], "fees_group": [True, False]}) \
        .to_csv(d / "tags.csv", index=False)
    pd.DataFrame({"ticket_id": ["d1", "d2", "d3"], "text": ["why a fee", "card lost", "fee again"],
                  "tag": ["fee", "card", "fee"]}).to_csv(d / "dev.csv", index=False)
    pd.DataFrame({"ticket_id": ["t1", "t2"], "text": ["a fee?", "my card"], "tag": ["fee", "card"]}) \
        .to_csv(d / "test.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "dataset": {"pool": "data/dev.csv", "gold_dev": "data/dev.csv",
                                                            "gold_test": "data/test.csv", "tags": "data/tags.csv"}}))
    store = tmp_path / "lfs"
    LFStore(store).add([LFSpec(id="kw:fee", tag="fee", kind="keyword", params={"any": ["fee"]}, status="active"),
                        LFSpec(id="kw:card", tag="card", kind="keyword", params={"any": ["card"]}, status="active")])
    return d, cfg, store


def test_add_rename_merge_retire_keep_everything_consistent(tmp_path):
    d, cfg, store = _setup(tmp_path)
    ex = tmp_path / "ex.jsonl"
    pd.DataFrame({"ticket_id": ["n1", "n2"], "text": ["сменить тариф", "какой тариф"]}).to_json(ex, orient="records",
                                                                                              lines=True)
    r = tagger("tags", "add", "Тариф", "--description", "смена тарифа", "--examples", str(ex), "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["examples"] == 2
    tags = pd.read_csv(d / "tags.csv")
    assert tags["tag"].tolist() == ["fee", "card", "Тариф"] and tags["fees_group"].tolist() == [True, False, False]
    dev = pd.read_csv(d / "dev.csv")
    assert dev["tag"].tolist() == ["fee", "card", "fee", "Тариф", "Тариф"] and "сменить тариф" in dev["text"].tolist()

    r = tagger("tags", "rename", "fee", "fees", "--config", str(cfg), "--store", str(store), "--by", "ana")
    assert r.returncode == 0, r.stderr
    assert set(pd.read_csv(d / "dev.csv")["tag"]) == {"fees", "card", "Тариф"}
    assert set(pd.read_csv(d / "test.csv")["tag"]) == {"fees", "card"}
    fee = LFStore(store).get("kw:fee")
    assert fee.tag == "fees" and fee.provenance["history"][-1]["tag"] == "fee -> fees"
    assert sorted(p.name for p in store.glob("*.yaml")) == ["card.yaml", "fees.yaml"]

    r = tagger("tags", "merge", "card", "fees", "--config", str(cfg), "--store", str(store))
    assert r.returncode == 0, r.stderr
    assert "card" not in set(pd.read_csv(d / "tags.csv")["tag"]) and "card" not in set(pd.read_csv(d / "dev.csv")["tag"])
    assert {s.tag for s in LFStore(store).all()} == {"fees"}

    r = tagger("tags", "retire", "fees", "--config", str(cfg), "--store", str(store), "--reason", "product closed")
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(d / "tags.csv")["tag"].tolist() == ["Тариф"]
    assert {s.status for s in LFStore(store).all()} == {"retired"}


def test_bad_tag_requests_are_refused_by_name_and_change_nothing(tmp_path):
    d, cfg, store = _setup(tmp_path)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["x"], "body": ["hi"]}).to_csv(bad, index=False)
    r = tagger("tags", "add", "new", "--description", "x", "--examples", str(bad), "--config", str(cfg))
    assert r.returncode == 2 and "needs ticket_id and text" in r.stderr
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"ticket_id": ["d1"], "text": ["why a fee"]}).to_csv(dup, index=False)
    r = tagger("tags", "add", "new", "--description", "x", "--examples", str(dup), "--config", str(cfg))
    assert r.returncode == 2 and "already gold" in r.stderr
    r = tagger("tags", "add", "fee", "--description", "x", "--examples", str(dup), "--config", str(cfg))
    assert r.returncode == 2 and "already in" in r.stderr
    r = tagger("tags", "rename", "nope", "x", "--config", str(cfg))
    assert r.returncode == 2 and "unknown tag 'nope'" in r.stderr
    r = tagger("tags", "rename", "fee", "card", "--config", str(cfg), "--store", str(store))
    assert r.returncode == 2 and "already exists" in r.stderr and "merge" in r.stderr
    r = tagger("tags", "merge", "fee", "nope", "--config", str(cfg))
    assert r.returncode == 2 and "unknown tag 'nope'" in r.stderr
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert {s.tag for s in LFStore(store).all()} == {"fee", "card"}


def test_examples_with_text_join_a_gold_file_of_dialogues(tmp_path):
    """gold_dev rows hold dialogue turns (JSONL), the new tag's examples plain text: both load."""
    import json

    from data.io import load_tickets
    from tagger.tags import TagFiles, add_tag

    d = tmp_path
    pd.DataFrame({"tag": ["fee"], "description": ["a fee"]}).to_csv(d / "tags.csv", index=False)
    turns = json.dumps([{"speaker": "customer", "text": "why a fee"}])
    pd.DataFrame({"ticket_id": ["d1"], "turns": [turns], "tag": ["fee"]}).to_json(d / "dev.jsonl", orient="records",
                                                                                  lines=True)
    pd.DataFrame({"ticket_id": ["n1"], "text": ["my card is lost"]}).to_csv(d / "ex.csv", index=False)
    add_tag(TagFiles(d / "tags.csv", [d / "dev.jsonl", d / "test.jsonl"]), "card", "a card", d / "ex.csv")
    dev, bad = load_tickets(d / "dev.jsonl", label_column="tag")
    assert bad.empty and dict(zip(dev["ticket_id"], dev["tag"])) == {"d1": "fee", "n1": "card"}
    assert dev.set_index("ticket_id").loc["n1", "text"] == "my card is lost"
