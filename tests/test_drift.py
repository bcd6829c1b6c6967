"""Drift watch: the statistics, and a watch over months where the third changes its tag mix and wording."""
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest

from data.demo import TAGS, make_dialogue
from labeling_functions.drift import firing_rates, rate_shift, window_lf_stats
from labeling_functions.spec import LFSpec
from models.drift import chi2_pvalue, confidence_shift, domain_auc, psi


def test_psi_and_chi2_see_a_changed_mix_and_not_a_resample():
    same = psi([100, 100, 100], [100, 100, 100])
    assert same == 0.0
    moved = psi([100, 100, 100], [250, 25, 25])
    r, c = np.array([1, 1, 1]) / 3, np.array([250, 25, 25]) / 300
    assert moved == pytest.approx(float(((c - r) * np.log(c / r)).sum())) and moved > 0.5
    assert chi2_pvalue([100, 100, 100], [250, 25, 25]) < 1e-6 < 0.5 < chi2_pvalue([100, 100, 100], [98, 103, 99])
    assert np.isfinite(psi([10, 0, 5], [0, 10, 5]))  # a bin empty in one window
    with pytest.raises(ValueError, match="different shapes"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="no tickets"):
        psi([0, 0], [1, 1])


def test_confidence_shift_and_domain_auc():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.6, 1.0, 500), rng.uniform(0.6, 1.0, 500)
    ks, p = confidence_shift(a, b)
    assert ks < 0.1 and p > 0.01
    ks, p = confidence_shift(a, rng.uniform(0.2, 0.7, 500))
    assert ks > 0.7 and p < 1e-6
    X = rng.normal(size=(400, 16))
    assert abs(domain_auc(X[:200], X[200:]) - 0.5) < 0.12
    # one coordinate moved by 2.5 sd: the best classifier's AUC is Phi(2.5 / sqrt 2) = 0.96
    assert domain_auc(X[:200], X[200:] + 2.5 * np.eye(16)[0]) > 0.9


def test_lf_window_stats_and_rate_shift():
    specs = [LFSpec(id="kw", tag="a", kind="keyword", params={"any": ["x"]}),
             LFSpec(id="op", tag="a", kind="metadata", params={"field": "operator_tag", "equals": "a"})]
    L = np.array([[0, -1], [0, 1], [-1, -1], [-1, 0]], dtype=np.int16)
    st = window_lf_stats(L, specs)
    assert st == {"tickets": 4, "abstain_rate": 0.25, "conflict_rate": 0.25, "uncovered_by_rules": 0.5}
    ref, cur = np.array([0.2, 0.10, 0.001]), np.array([0.05, 0.12, 0.002])
    three = specs + [LFSpec(id="rare", tag="a", kind="keyword", params={"any": ["y"]})]
    sh = rate_shift(ref, cur, three, 1000, 1000, min_rate=0.005)
    assert sh["lfs_compared"] == 2 and sh["lfs_shifted"] == 1 and sh["lf_shift_share"] == 0.5
    assert sh["top_shifted"] == [{"lf": "kw", "tag": "a", "reference_rate": 0.2, "rate": 0.05}]
    # the same rates on 40 tickets a window: 8 hits against 2 is a 4x drop, but not beyond chance
    assert rate_shift(ref, cur, three, 40, 40, min_rate=0.005)["lfs_shifted"] == 0
    assert firing_rates(L).tolist() == [0.5, 0.5]


def _text(turns):
    return "\n".join(f"{t['speaker']}: {t['text']}" for t in turns)


def _months(n=200, seed=0):
    """Three months of demo dialogues: January and February alike; in March most tickets are about three
    tags and the product is renamed ("card" becomes "plastic") with an app banner in every ticket."""
    rng = random.Random(seed)
    tags, rows = list(TAGS), []
    for m in (1, 2, 3):
        for i in range(n):
            tag = rng.choice(tags[:3]) if m == 3 and rng.random() < 0.7 else rng.choice(tags)
            text = _text(make_dialogue(rng, tag))
            if m == 3:
                text = "customer: [sent from the NeoBank app]\n" + text.replace("card", "plastic")
            rows.append({"ticket_id": f"m{m}-{i}", "text": text, "created_at": f"2026-0{m}-{1 + i % 27:02d}T10:00:00",
                         "operator_tag": None, "metadata": "{}", "tag": tag})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    from models.encoder import Encoder
    from models.end_model import ModelInfo, frozen_model, train_head
    from models.recipes import one_hot

    df = _months()
    tags = list(TAGS)
    # trained on other tickets than the watched ones: on the reference window itself its confidence there
    # would be in-sample, higher than on any later window
    rng = random.Random(1)
    train = [(t, _text(make_dialogue(rng, t))) for t in tags for _ in range(15)]
    enc = Encoder(max_length=64)
    W, b = train_head(enc([x for _, x in train]), one_hot([t for t, _ in train], tags), l2=1e-4, max_iter=200)
    model = frozen_model(ModelInfo(tags=tags, mode="frozen", max_length=64), W, b)
    specs = [LFSpec(id=f"kw:{t}:{w}", tag=t, kind="keyword", params={"any": [w]}) for t, w in
             (("card_lost_or_stolen", "card"), ("pin_blocked", "blocked"), ("card_declined", "declined"),
              ("transaction_charged_twice", "twice"), ("card_not_arrived", "delivery"), ("pin_blocked", "pin"))]
    d = tmp_path_factory.mktemp("drift")
    model.save(d / "model")
    return df, specs, d


def test_drift_watch_flags_the_changed_month_only(watched, tmp_path):
    from data.warehouse import drift_reports
    from tagger.drift import DriftSettings, run_drift

    df, specs, d = watched
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    s = DriftSettings(webhook_url=f"http://127.0.0.1:{srv.server_port}/hook")
    db = f"sqlite:///{tmp_path / 'target.db'}"
    try:
        rows = run_drift(df, d / "model", specs, s, "v0001", db_url=db, page=tmp_path / "drift.html", precision="fp32")
    finally:
        srv.shutdown()
    by = {r["window_start"]: r for r in rows}
    assert list(by) == ["2026-01-01", "2026-02-01", "2026-03-01"]
    jan, feb, mar = by.values()
    assert jan["tag_mix_psi"] == 0.0 and not jan["alert"] and not feb["alert"], (jan, feb)
    assert mar["alert"] and {"tag_mix_psi", "domain_auc", "lf_shift_share"} <= set(mar["alerts"].split(",")), mar
    assert feb["domain_auc"] < 0.7 < 0.9 < mar["domain_auc"]
    assert "kw:card_lost_or_stolen:card" in [s["lf"] for s in json.loads(mar["top_shifted"])]
    # the webhook got the one alerting window; the table holds the three, and a rerun replaces them
    assert [a["window_start"] for a in got[0]["alerts"]] == ["2026-03-01"] and got[0]["model_version"] == "v0001"
    from data.warehouse import store_drift_reports

    store_drift_reports(db, rows, "v0001")
    stored = drift_reports(db)
    assert len(stored) == 3 and stored["alert"].tolist() == [False, False, True]
    page = (tmp_path / "drift.html").read_text()
    assert "data:image/png;base64," in page and "1 of 3 windows alerted" in page


def test_drift_watch_refuses_tickets_without_time_and_a_missing_reference(watched):
    from models.end_model import TaggerModel
    from tagger.drift import DriftSettings, drift_watch

    df, specs, d = watched
    model = TaggerModel.load(d / "model", precision="fp32")
    bad = df.head(20).copy()
    bad.loc[3, "created_at"] = "not a date"
    with pytest.raises(ValueError, match="1 tickets have no usable created_at .*m1-3"):
        drift_watch(bad, model, specs, DriftSettings())
    with pytest.raises(ValueError, match="not a pandas period"):
        DriftSettings(window="fortnightly")
    with pytest.raises(ValueError, match="no tickets in the reference window starting 2025-12-01"):
        drift_watch(df.head(20), model, specs, DriftSettings(reference="2025-12-01"))


def test_drift_cli_prints_a_line_per_window_and_writes_the_page(watched, tmp_path):
    from typer.testing import CliRunner

    from labeling_functions.spec import dump_specs
    from tagger.cli import app

    df, specs, d = watched
    df[["ticket_id", "text", "created_at"]].to_csv(tmp_path / "pool.csv", index=False)
    pd.DataFrame({"tag": list(TAGS), "description": list(TAGS)}).to_csv(tmp_path / "tags.csv", index=False)
    dump_specs(specs, tmp_path / "lfs.yaml")
    (tmp_path / "run.yaml").write_text(f"name: watch\ndataset: {{pool: {tmp_path}/pool.csv, gold_dev: {tmp_path}/dev.csv, "
                                       f"gold_test: {tmp_path}/test.csv, tags: {tmp_path}/tags.csv}}\n")
    r = CliRunner().invoke(app, ["drift", str(tmp_path / "run.yaml"), "--model", str(d / "model"), "--lfs",
                                 str(tmp_path / "lfs.yaml"), "--precision", "fp32", "--out", str(tmp_path / "d.html"),
                                 "--db", f"sqlite:///{tmp_path / 't.db'}", "--quiet"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert [x.split()[0] for x in lines[:3]] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert lines[0].endswith("ok") and lines[1].endswith("ok") and "ALERT: " in lines[2]
    assert lines[-1] == str(tmp_path / "d.html") and (tmp_path / "d.html").exists()
    r = CliRunner().invoke(app, ["drift", str(tmp_path / "run.yaml"), "--model", str(tmp_path), "--quiet"])
    assert r.exit_code == 2 and "is not a model directory" in r.output
    r = CliRunner().invoke(app, ["drift", str(tmp_path / "run.yaml"), "--model", str(d / "model"), "--lfs",
                                 str(tmp_path / "lfs.yaml"), "--window", "fortnight"])
    assert r.exit_code == 2 and "not a pandas period" in r.output
