"""Writes that a kill cannot tear: tables, model folders, the registry (under a file lock) and the LF
store, each checked against a writer that really dies mid-write (SIGKILL) or fails mid-save."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys, pandas as pd
sys.path.insert(0, {root!r})
from data.io import write_table
n = 0
while True:
    n += 1
    write_table(pd.DataFrame({{"ticket_id": [f"t{{i}}" for i in range(200000)], "tag": ["gen%d" % n] * 200000}}), sys.argv[1])
"""


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_killed_table_writer_leaves_a_complete_file(tmp_path, suffix):
    from data.io import write_table

    out = tmp_path / f"tags{suffix}"
    write_table(pd.DataFrame({"ticket_id": ["old"], "tag": ["old"]}), out)
    for delay in (0.4, 0.9, 1.7):
        p = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT)), str(out)])
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        assert p.wait() == -signal.SIGKILL  # it really died by SIGKILL, mid-way through its loop
        df = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert len(df) in (1, 200000) and df["tag"].nunique() == 1  # the old file or one complete new one
    # a SIGKILL can leave the dying writer's temp file behind: hidden, beside the output, never the output
    assert all(f.name == out.name or f.name.startswith(f".{out.name}.") for f in tmp_path.iterdir())


def test_an_interrupted_model_save_keeps_the_old_model(tmp_path, encoder, monkeypatch):
    import safetensors.numpy

    from models.end_model import ModelInfo, TaggerModel, frozen_model, train_head

    texts = ["card lost", "fee charged", "transfer failed"]
    W, b = train_head(encoder(texts), np.eye(3, dtype=np.float32))
    info = ModelInfo(tags=["a", "b", "c"], mode="frozen", max_length=64)
    out = frozen_model(info, W, b).save(tmp_path / "model")
    before = TaggerModel.load(out).predict_proba(texts)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        frozen_model(info, W * 0, b * 0).save(out)
    np.testing.assert_allclose(TaggerModel.load(out).predict_proba(texts), before)  # still the old, whole model
    assert [f.name for f in tmp_path.iterdir()] == ["model"]


REGISTER = """
import sys
sys.path.insert(0, {root!r})
from models.registry import Registry
reg = Registry(sys.argv[1])
for i in range(20):
    reg.register(sys.argv[2] + f"/run{{sys.argv[3]}}_{{i}}", dev_score=0.5)
"""


def test_concurrent_registrations_keep_every_version(tmp_path):
    runs = tmp_path / "runs"
    for w in range(2):
        for i in range(20):
            (runs / f"run{w}_{i}" / "model").mkdir(parents=True)
            (runs / f"run{w}_{i}" / "model" / "head.txt").write_text("x")
    procs = [subprocess.Popen([sys.executable, "-c", REGISTER.format(root=str(ROOT)), str(tmp_path / "reg"),
                               str(runs), str(w)]) for w in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    data = json.loads((tmp_path / "reg" / "registry.json").read_text())
    assert len(data["versions"]) == 40 and len({v["version"] for v in data["versions"]}) == 40
    assert all("test_score" not in v for v in data["versions"])  # gold_test never reaches the registry


def test_a_broken_store_file_names_itself_and_the_rest_stays_usable(tmp_path):
    from labeling_functions.spec import LFSpec
    from labeling_functions.store import LFStore

    store = LFStore(tmp_path / "lfs")
    store.add([LFSpec(id=f"k:{t}", tag=t, kind="keyword", params={"any": [t]}) for t in ("alpha", "beta")])
    bad = tmp_path / "lfs" / "gamma.yaml"
    bad.write_text("lfs:\n  - id: broken\n    kind: [unclosed\n")
    assert {s.id for s in store.all()} == {"k:alpha", "k:beta"}
    assert list(store.errors) == [str(bad)] and "not valid YAML" in store.errors[str(bad)]
    r = subprocess.run([sys.executable, "-m", "tagger.cli", "lf", "list", "--store", str(tmp_path / "lfs")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "2 LFs" in r.stdout and "gamma.yaml" in r.stderr
