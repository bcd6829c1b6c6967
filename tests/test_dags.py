"""The five Airflow DAGs, for real: parsed by a DagBag and run with dag.test() on tiny demo data and
SQLite; effects asserted (rows ingested, LFs proposed, champion promoted, tags written), reruns
idempotent, a killed tagging task retried to consistent data."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import airflow  # noqa: F401  (required: `make install` installs it, and CI must run these tests)

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
N, SHARD = 120, 40  # demo tickets in the source database (as a day and a half of dialogues), tickets per tagging shard
DAG_IDS = {"ticket_ingest", "lf_refinement", "train_tagger", "batch_tagging", "drift_watch"}


@pytest.fixture(scope="module")
def af(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    r = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    work = home / "work"
    (work / "configs").mkdir(parents=True)
    from tests.tiny_configs import SMALL_SELECT, tiny

    # the tiny run on N tickets, with a two-recipe grid: train_tagger still cross-validates recipes for its dev score
    run = tiny(work, select=SMALL_SELECT).replace("n_pool: 360", f"n_pool: {N}")
    (work / "configs" / "run.yaml").write_text(run + "refine: {max_rounds: 2, patience: 1}\n")
    settings = (ROOT / "configs" / "airflow.yaml").read_text()
    settings = settings.replace("../workspace/demo/support.db", f"{work}/demo/support.db")
    settings = settings.replace("../workspace/airflow", f"{work}/ws").replace("run_config: demo.yaml",
                                                                              "run_config: run.yaml")
    settings = settings.replace("shard_size: 500", f"shard_size: {SHARD}")
    (work / "configs" / "airflow.yaml").write_text(settings)
    env["TAGGER_AIRFLOW_SETTINGS"] = str(work / "configs" / "airflow.yaml")
    return env, work


_runner: list = []  # [(env, DagRunner)]: the test's dag_runner.py process, for the settings it was started with


@pytest.fixture(autouse=True)
def _own_dag_runner():
    """Every test starts its own dag_runner.py process (tests/dag_runner.py) and stops it at its end, so no
    test depends on another; within a test, one process serves its DAG runs while the settings stay the same."""
    yield
    while _runner:
        _runner.pop()[1].close()


def run_dag(env, name, logical_date=None, timeout=900, settings=None):
    """One real ``dag.test()`` of ``dags/NAME.py`` with ``env`` (AIRFLOW_HOME, TAGGER_AIRFLOW_SETTINGS);
    ``settings``: another settings file for this run, passed as the DAG's ``settings`` param."""
    from tests.dag_runner import DagRunner

    if _runner and _runner[0][0] != env:  # other settings: a fresh process reads them
        _runner.pop()[1].close()
    if not _runner:
        _runner.append((dict(env), DagRunner(env, ROOT)))
    runner = _runner[0][1]
    state, out = runner.run(DAGS / f"{name}.py", logical_date, timeout, {"settings": str(settings)} if settings else None)
    assert state == "success", (name, state, out[-3000:], runner.stderr()[-3000:])
    return out


def q(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_dag_integrity_and_light_parsing(af):
    env, _ = af
    code = ("import sys; from airflow.models import DagBag; b = DagBag(dag_folder=sys.argv[1]);"
            "print(sorted(b.dag_ids)); print(b.import_errors);"
            "print(any(m in sys.modules for m in ('torch', 'pandas', 'sklearn', 'snorkel', 'transformers', 'tagger.pipeline')))")
    r = subprocess.run([sys.executable, "-c", code, str(DAGS)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ids, errors, heavy = r.stdout.strip().splitlines()[-3:]
    assert set(eval(ids)) == DAG_IDS and errors == "{}"
    assert heavy == "False"  # DAG parsing never imports the ML stack or project code


def test_dags_end_to_end(af):
    env, work = af
    db = work / "ws" / "tagger.db"
    # ticket_ingest for an early interval, twice: the second run adds nothing
    run_dag(env, "ticket_ingest", "2026-01-02T12:00:00")
    n1 = q(db, "SELECT COUNT(*) FROM tickets")[0][0]
    assert 50 < n1 < N
    run_dag(env, "ticket_ingest", "2026-01-02T12:00:00")
    assert q(db, "SELECT COUNT(*) FROM tickets")[0][0] == n1
    # a later interval brings the rest; bad rows are quarantined (once, even on rerun)
    run_dag(env, "ticket_ingest", "2026-03-01T00:00:00")
    run_dag(env, "ticket_ingest", "2026-03-01T00:00:00")
    assert q(db, "SELECT COUNT(*) FROM tickets")[0][0] == N
    reasons = sorted(r[0] for r in q(db, "SELECT reason FROM quarantine"))
    assert reasons == ["empty_text", "missing_id", "oversized"]  # the duplicate id is absorbed by the upsert
    texts = " ".join(r[0] for r in q(db, "SELECT text FROM tickets"))
    cards = set(re.findall(r"\b\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}\b",
                           " ".join(b or "" for (b,) in q(work / "demo" / "support.db", "SELECT body FROM messages"))))
    assert "4111" not in texts and cards and not any(c in texts for c in cards)  # the source's card numbers: masked

    # lf_refinement: proposals land in the LF store as `proposed`
    run_dag(env, "lf_refinement")
    from labeling_functions.store import LFStore

    store = LFStore(work / "ws" / "lfs")
    assert store.all() and {s.status for s in store.all()} == {"proposed"}
    assert all(s.provenance.get("backend") == "miner" for s in store.all())
    # the gold_dev tickets their gate saw are recorded in the store: training never selects on them
    import pandas as pd

    dev_ids = set(pd.read_json(work / "demo" / "gold_dev.jsonl", lines=True, dtype={"ticket_id": str})["ticket_id"])
    assert store.seen() and store.seen() < dev_ids  # the gating half of gold_dev, not all of it

    # train_tagger: registers and promotes; a second run with the same data is not worse -> promoted again
    run_dag(env, "train_tagger")
    reg = json.loads((work / "ws" / "registry" / "registry.json").read_text())
    assert reg["champion"] == reg["versions"][0]["version"] and reg["decisions"][0]["promoted"]
    # the chosen recipe's CV macro-F1 on the hard demo dialogues (confusable tags, 120 tickets, two folds of
    # six gold tickets a tag): at least three times chance (1/12)
    assert 0.25 < reg["versions"][0]["dev_score"] <= 1

    # batch_tagging: every ticket tagged once by the champion; rerun adds nothing
    run_dag(env, "batch_tagging")
    rows = q(db, "SELECT ticket_id, model_version, tag, confidence, needs_review FROM ticket_tags")
    assert len(rows) == N and len({r[0] for r in rows}) == N
    assert {r[1] for r in rows} == {reg["champion"]}
    assert all(0 <= r[3] <= 1 for r in rows)
    run_dag(env, "batch_tagging")
    assert q(db, "SELECT COUNT(*) FROM ticket_tags")[0][0] == N


def test_killed_tagging_shard_is_retried_to_consistent_data(af):
    env, work = af
    db = work / "ws" / "tagger.db"
    # stands alone: ingest (idempotent, so a no-op after the end-to-end test), then a new champion
    # version, which makes every ticket untagged again for it
    run_dag(env, "ticket_ingest", "2026-03-01T00:00:00")
    run_dag(env, "train_tagger")
    reg = json.loads((work / "ws" / "registry" / "registry.json").read_text())
    champ = reg["champion"]
    # killed as soon as its first shard is in, while the next one is being tagged; it idles at the end, so
    # the kill always finds it alive
    code = ("import sys, time; from tagger.jobs import plan_tagging, tag_shard; s = sys.argv[1];"
            "[tag_shard(s, sh) for sh in plan_tagging(s)]; time.sleep(120)")
    p = subprocess.Popen([sys.executable, "-c", code, env["TAGGER_AIRFLOW_SETTINGS"]], env=env, cwd=ROOT)
    deadline, n = time.time() + 600, 0  # generous: a loaded machine takes minutes to load the model
    while time.time() < deadline and p.poll() is None and n == 0:
        try:
            n = q(db, f"SELECT COUNT(*) FROM ticket_tags WHERE model_version = '{champ}'")[0][0]
        except sqlite3.OperationalError:  # run alone, the first shard creates the table
            n = 0
        time.sleep(0.2)
    assert p.poll() is None and n > 0, f"the worker wrote no shard in time (exit {p.poll()}, {n} rows)"
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL  # it really died by SIGKILL, mid-run
    partial = q(db, f"SELECT COUNT(*) FROM ticket_tags WHERE model_version = '{champ}'")[0][0]
    assert partial >= SHARD and partial % SHARD == 0  # whole shards only: a killed shard wrote nothing
    run_dag(env, "batch_tagging")  # the retry
    rows = q(db, f"SELECT ticket_id FROM ticket_tags WHERE model_version = '{champ}'")
    assert len(rows) == N and len(set(rows)) == N


def test_lf_refinement_in_batch_mode(af, tmp_path):
    """Batch (air-gapped) mode: one run exports round 1's requests; a run before the replies arrive
    does nothing; once a Batch API output file is in the inbox, the next run imports it, gates the
    LFs into the store as proposed and exports round 2."""
    from labeling_functions.store import LFStore
    from tests.test_batch import _answer

    env, work = af
    settings = Path(env["TAGGER_AIRFLOW_SETTINGS"]).read_text().replace(f"{work}/ws", f"{tmp_path}/ws")
    batch = tmp_path / "batch"
    # the stand-in LLM proposes one keyword per tag, the longest word of its name; on the hard demo dialogues
    # (no word gives a tag away) it needs the gate the batch CLI test uses to admit any
    run = (work / "configs" / "run.yaml").read_text()
    assert "refine: {max_rounds: 2, patience: 1}" in run
    (tmp_path / "run.yaml").write_text(run.replace("refine: {max_rounds: 2, patience: 1}", "refine: {max_rounds: 2, "
                                                   "patience: 1, gate: {min_precision: 0.5, min_support: 1}}"))
    (tmp_path / "airflow.yaml").write_text(settings.replace("run_config: run.yaml", f"run_config: {tmp_path}/run.yaml")
                                           + f"refine_batch_dir: {batch}\n")
    env = {**env, "TAGGER_AIRFLOW_SETTINGS": str(tmp_path / "airflow.yaml")}
    run_dag(env, "ticket_ingest", "2026-03-01T00:00:00")
    run_dag(env, "lf_refinement")
    req = batch / "round-01" / "requests.jsonl"
    assert req.exists() and json.loads((batch / "pending.json").read_text())["round"] == 1
    assert LFStore(tmp_path / "ws" / "lfs").all() == []
    run_dag(env, "lf_refinement")  # no replies yet: still awaiting round 1, nothing re-exported
    assert json.loads((batch / "pending.json").read_text())["round"] == 1 and not (batch / "round-02").exists()
    (batch / "inbox").mkdir()
    _answer(req, batch / "inbox" / "round-01.jsonl")
    run_dag(env, "lf_refinement")
    lfs = LFStore(tmp_path / "ws" / "lfs").all()
    assert lfs and {s.status for s in lfs} == {"proposed"} and {s.provenance["backend"] for s in lfs} == {"openai"}
    assert json.loads((batch / "pending.json").read_text())["round"] == 2 and (batch / "round-02" / "requests.jsonl").exists()


def test_drift_watch_reports_windows_and_raises_the_alert_asset(af, tmp_path):
    """drift_watch stands alone (ingest, and a champion when there is none), stores one row per daily window,
    reruns replace its rows, and an alert ends in an event on the drift-alert Asset that lf_refinement runs on."""
    env, work = af
    db = work / "ws" / "tagger.db"
    run_dag(env, "ticket_ingest", "2026-03-01T00:00:00")
    if not (work / "ws" / "registry" / "registry.json").exists():
        run_dag(env, "train_tagger")
    base = Path(env["TAGGER_AIRFLOW_SETTINGS"]).read_text().replace("run_config: run.yaml",
                                                                   f"run_config: {work}/configs/run.yaml")
    quiet = base.replace("window: M ", "window: D ")  # the demo tickets span a few days
    loud = quiet.replace("min_tickets: 100", "min_tickets: 10").replace("tag_mix_psi: 0.2, tag_mix_p: 0.001",
                                                                        "tag_mix_psi: 0.0, tag_mix_p: 1.0")
    assert quiet != base and loud != quiet
    for name, text in (("quiet.yaml", quiet), ("loud.yaml", loud)):
        (tmp_path / name).write_text(text)
    days = q(db, "SELECT COUNT(DISTINCT substr(created_at, 1, 10)) FROM tickets")[0][0]
    # the thresholds come as the DAG's settings param, so one dag_runner process serves every run here
    run_dag(env, "drift_watch", settings=tmp_path / "quiet.yaml")
    run_dag(env, "drift_watch", settings=tmp_path / "quiet.yaml")
    rows = q(db, "SELECT window_start, reference_start, alert FROM drift_reports ORDER BY window_start")
    assert len(rows) == days >= 2 and {r[1] for r in rows} == {rows[0][0]}
    assert not any(r[2] for r in rows)  # fewer tickets a day than drift.min_tickets: reported, never alerting
    assert (work / "ws" / "registry" / "drift.html").exists()

    airflow_db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    events = ("SELECT COUNT(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
              "WHERE a.uri = 'tagger://drift/alert'")
    before = q(airflow_db, events)[0][0]
    run_dag(env, "drift_watch", settings=tmp_path / "loud.yaml")
    assert q(db, "SELECT COUNT(*) FROM drift_reports WHERE alert")[0][0] >= 1
    assert q(db, "SELECT COUNT(*) FROM drift_reports")[0][0] == days  # the rerun replaced its rows
    assert q(airflow_db, events)[0][0] == before + 1
