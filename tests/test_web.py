"""The review web app (`tagger serve`) over HTTP with FastAPI's TestClient: pages, login, roles, CSRF,
escaping, path traversal, the store as single source of truth, concurrent reviews, label issues."""
import json
import multiprocessing
import re
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

from labeling_functions.spec import LFSpec
from labeling_functions.store import LFStore
from tests.tiny_configs import cli  # the tagger CLI, run in this process

PASSWORDS = {"ana": "ana-reviews-lfs", "vic": "vic-only-reads"}
TEST_SCORE = 0.4321987  # a gold_test macro-F1 planted in the fake runs: no page may show it
XSS = "<script>alert('lf')</script>"


def kw(i, tag, phrase, status="proposed", rationale="", round_=1, author="miner:test"):
    return LFSpec(id=i, tag=tag, kind="keyword", params={"any": [phrase]}, status=status, author=author,
                  rationale=rationale,
                  provenance={"round": round_, "motivating_tickets": ["conv-000000"],
                              "gate": {"dev_precision": 0.9, "dev_hits": 4, "pool_coverage": 0.02, "pool_hits": 7}})


def fake_run(path: Path, lf_ids: list[str], dev_acc: float, cv: float) -> Path:
    """A run directory with the files the app reads (a real run takes minutes)."""
    path.mkdir(parents=True)
    per_tag = {"fee_charged": {"precision": TEST_SCORE, "recall": TEST_SCORE, "f1": TEST_SCORE}}
    (path / "metrics.json").write_text(json.dumps({
        "run": path.name, "label_model": {"gold_dev_accuracy_label_model": dev_acc, "gold_dev_accuracy_majority_vote": 0.5,
                                          "gold_dev_coverage": 0.8, "coverage": 0.7, "n_lfs": len(lf_ids)},
        "selection": {"chosen": {"name": "weak+dev_w5"}, "scored_tickets": 40,
                      "table": [{"recipe": "weak+dev_w5", "cv_macro_f1_mean": cv, "cv_macro_f1_std": 0.01}]},
        "training": {"tickets": 300, "weak_labels_pruned": 2},
        "test": {"model": {"macro_f1": TEST_SCORE, "micro_f1": TEST_SCORE, "accuracy": TEST_SCORE, "per_tag": per_tag}}}))
    (path / "lfs.yaml").write_text(yaml.safe_dump({"lfs": [kw(i, "fee_charged", "fee").model_dump(mode="json")
                                                           for i in lf_ids]}))
    pd.DataFrame({"id": lf_ids, "tag": "fee_charged", "kind": "keyword", "author": "x", "status": "active",
                  "coverage": 0.1, "overlaps": 0.0, "conflicts": 0.05, "hits": 30, "dev_correct": 4,
                  "dev_incorrect": 1, "dev_precision": 0.8, "dev_recall": 0.5}).to_csv(path / "lf_summary.csv", index=False)
    pd.DataFrame({"ticket_id": ["t1", "t2"], "label": ["fee_charged", "pin_blocked"], "confidence": 1.0,
                  "weight": 1.0}).to_parquet(path / "train_labels.parquet", index=False)
    pd.DataFrame({"ticket_id": ["conv-000001", "conv-000002"], "weak_label": ["fee_charged", "pin_blocked"],
                  "weak_confidence": [0.6, 0.7], "operator_tag": ["card_not_arrived", ""],
                  "model_tag": ["card_not_arrived", "card_declined"], "model_probability": [0.9, 0.8],
                  "text": ["customer: the card never showed up " + XSS, "customer: pin blocked"]}) \
        .to_csv(path / "label_issues.csv", index=False)
    pd.DataFrame({"tag": ["fee_charged", "pin_blocked"], "precision": cv, "recall": cv, "f1": [cv, cv / 2],
                  "support": 5}).to_csv(path / "per_tag_cv.csv", index=False)
    (path / "report.html").write_text(f"<!doctype html><html><body><h1>Run {path.name}</h1></body></html>")
    return path


def build_site(out: Path) -> dict:
    """A tiny review site: demo data and its config, an LF store, two runs, a reviewer and a viewer."""
    from tagger.web.users import Users
    from tests.tiny_configs import TINY

    out.mkdir(parents=True, exist_ok=True)
    cfg = out / "tiny.yaml"
    cfg.write_text(TINY.format(out=out, mode="frozen"))
    store = out / "lfs"
    LFStore(store).add([kw("kw:stolen", "card_lost_or_stolen", "stolen"), kw("kw:fee", "fee_charged", "fee", round_=2),
                        kw("kw:bad", "pin_blocked", "card", author="llm:gpt"),
                        kw("kw:xss", "fee_charged", "charged", rationale=XSS),
                        kw("kw:active", "card_declined", "declined", status="active")])
    runs = out / "runs"
    fake_run(runs / "run-a", ["kw:active", "kw:old"], 0.70, 0.61)
    fake_run(runs / "run-b", ["kw:active", "kw:fee"], 0.75, 0.66)
    users = out / "users.json"
    Users(users).add("ana", "reviewer", PASSWORDS["ana"])
    Users(users).add("vic", "viewer", PASSWORDS["vic"])
    return {"out": out, "config": cfg, "store": store, "runs": runs, "users": users}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def app(site):
    from tagger.web.app import Settings, create_app

    return create_app(Settings(store=site["store"], runs=site["runs"], users=site["users"], config=site["config"]))


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def client(app, user=None):
    from fastapi.testclient import TestClient

    c = TestClient(app)
    if user:
        r = c.post("/login", data={"username": user, "password": PASSWORDS[user], "csrf": csrf_of(c.get("/login").text),
                                   "next": "/queue"})
        assert r.status_code == 200 and f"{user} (" in r.text, r.text[:500]
    return c


def token(c) -> str:
    return csrf_of(c.get("/runs").text)


@pytest.fixture
def fresh(site, app, tmp_path):
    """A private store for tests that change LFs."""
    from tagger.web.app import Settings, create_app

    store = tmp_path / "lfs"
    LFStore(store).add([kw("kw:a", "fee_charged", "fee"), kw("kw:b", "pin_blocked", "pin")])
    return store, create_app(Settings(store=store, runs=site["runs"], users=site["users"], config=site["config"]))


def test_every_page_renders(app):
    c = client(app, "vic")
    pages = {"/queue": ["kw:stolen", "kw:bad", "dev_precision"],
             "/queue?status=any&sort=conflicts&desc=1": ["kw:active", "kw:stolen"],
             "/queue?status=proposed&author=llm%3Agpt&round=1": ["kw:bad"],
             "/queue?run=run-b&status=any": ["run run-b"],
             "/lf/kw%3Astolen": ["Right on gold_dev", "Wrong on gold_dev", "Unlabeled pool", "Conflicts with other LFs",
                                 "Gate numbers", "motivating_tickets", "History", "conv-000000"],
             "/edit?source=kw%3Astolen": ["kw:stolen:edit", "Test"],
             "/runs": ["run-a", "run-b", "label issues", "report"],
             "/runs/compare?a=run-a&b=run-b": ["LFs added (1)", "kw:fee", "LFs removed (1)", "kw:old",
                                               "chosen_cv_macro_f1", "0.610", "0.660", "+0.050", "pin_blocked",
                                               "0.305 → 0.330", "CV F1 (gold_dev)"],
             "/runs/run-a/issues": ["conv-000001", "card_not_arrived", "card_declined", "gold_review.csv"],
             "/runs/run-a/report.html": ["Run run-a"]}
    for url, needles in pages.items():
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        for n in needles:
            assert n in r.text, (url, n)
        if url.startswith("/queue?status=proposed&author"):
            assert "kw:stolen" not in r.text
    assert "kw:fee" not in c.get("/queue?tag=card_lost_or_stolen").text
    # gold_test is read only by final scoring: never on the compare page or the runs list
    for url in ("/runs", "/runs/compare?a=run-a&b=run-b"):
        assert "0.432" not in c.get(url).text and "43.2" not in c.get(url).text
    r = c.get("/queue")
    assert "script" not in r.text  # no script at all, nothing from the network
    assert "default-src 'none'" in r.headers["content-security-policy"] and r.headers["x-frame-options"] == "DENY"
    assert c.get("/static/style.css").status_code == 200
    # the queue sorts by the live numbers (pool hits on the config's data), both ways
    hits = {s.id: n for s, n in zip(*_hits(app))}
    for desc in (1, 0):
        rows = re.findall(r'<td><a href="/lf/([^"]+)">', c.get(f"/queue?status=any&sort=hits&desc={desc}").text)
        assert len(rows) == 5
        got = [hits[r.replace("%3A", ":")] for r in rows]
        assert got == sorted(got, reverse=bool(desc))


def _hits(app):
    bench = app.state.bench
    specs = LFStore(app.state.settings.store).all()
    stats = bench.store_stats(specs).set_index("id")
    return specs, [int(stats.loc[s.id, "hits"]) for s in specs]


def test_login_cookie_and_anonymous_access(app):
    c = client(app)
    r = c.get("/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = c.post("/login", data={"username": "ana", "password": "wrong-password", "csrf": csrf_of(c.get("/login").text)})
    assert r.status_code == 401 and "wrong password" in r.text
    r = c.post("/login", data={"username": "ana", "password": PASSWORDS["ana"], "csrf": csrf_of(c.get("/login").text)},
               follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and PASSWORDS["ana"] not in cookie
    assert c.get("/lf/kw%3Astolen").status_code == 200


def test_unauthenticated_and_viewer_writes_are_refused(site, fresh):
    store, app_ = fresh
    anon = client(app_)
    t = csrf_of(anon.get("/login").text)
    for url, data in (("/lf/kw%3Aa/review", {"action": "approve", "reason": "x", "csrf": t}),
                      ("/edit", {"action": "save", "spec": "id: z\ntag: fee_charged\nkind: keyword\nparams: {any: [z]}",
                                 "reason": "x", "csrf": t}),
                      ("/runs/run-a/issues", {"ticket_id": "conv-000001", "tag": "card_not_arrived", "csrf": t})):
        assert anon.post(url, data=data, follow_redirects=False).status_code == 401, url
    viewer = client(app_, "vic")
    t = token(viewer)
    for url, data in (("/lf/kw%3Aa/review", {"action": "approve", "reason": "x", "csrf": t}),
                      ("/edit", {"action": "save", "spec": "id: z\ntag: fee_charged\nkind: keyword\nparams: {any: [z]}",
                                 "reason": "x", "csrf": t}),
                      ("/runs/run-a/issues", {"ticket_id": "conv-000001", "tag": "card_not_arrived", "csrf": t})):
        assert viewer.post(url, data=data, follow_redirects=False).status_code == 403, url
    assert "do-approve" not in viewer.get("/lf/kw%3Aa").text  # no buttons for viewers
    assert {s.id: s.status for s in LFStore(store).all()} == {"kw:a": "proposed", "kw:b": "proposed"}
    assert not (site["runs"] / "gold_review.csv").exists() or "conv-000001" not in (site["runs"] / "gold_review.csv").read_text()


def test_wrong_csrf_token_is_refused(fresh):
    store, app_ = fresh
    c = client(app_, "ana")
    for bad in ("", "forged-token", token(client(app_, "ana"))):  # missing, made up, another session's
        r = c.post("/lf/kw%3Aa/review", data={"action": "approve", "reason": "fine", "csrf": bad}, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text
    assert client(app_).post("/login", data={"username": "ana", "password": PASSWORDS["ana"], "csrf": "x"}).status_code == 403
    assert LFStore(store).get("kw:a").status == "proposed"


def test_path_traversal_and_script_in_rationale(site, app, tmp_path):
    c = client(app, "vic")
    for url in ("/runs/..%2F..%2Fetc/report.html", "/runs/%2E%2E/report.html", "/runs/../../etc/passwd",
                "/runs/..%2Frun-a/report.html", "/runs/compare?a=..%2Frun-a&b=run-b", "/runs/%2Fetc/issues",
                "/lf/..%2F..%2Fetc%2Fpasswd", "/lf/%2E%2E", "/edit?source=..%2F..%2Fusers.json",
                "/static/..%2F..%2F..%2Fusers.py", "/runs/run-a/..%2F..%2Fusers.json"):
        r = c.get(url)
        assert r.status_code in (400, 404), (url, r.status_code)
        assert "argon2" not in r.text and "root:" not in r.text
    (site["runs"] / "escape").symlink_to(tmp_path)  # a link out of the runs folder is not a run
    fake_run(tmp_path / "x", ["kw:a"], 0.5, 0.5)
    assert c.get("/runs/escape/report.html").status_code == 404
    (site["runs"] / "escape").unlink()
    page = c.get("/lf/kw%3Axss").text
    assert XSS not in page and "&lt;script&gt;alert(" in page
    issues = c.get("/runs/run-a/issues").text
    assert XSS not in issues and "&lt;script&gt;" in issues
    r = c.post("/edit", data={"action": "test", "csrf": token(c),
                              "spec": f"id: '{XSS}'\ntag: fee_charged\nkind: keyword\nparams: {{any: ['{XSS}']}}"})
    assert XSS not in r.text


def test_review_records_who_when_why_and_the_cli_agrees(fresh):
    store, app_ = fresh
    c = client(app_, "ana")
    r = c.post("/lf/kw%3Aa/review", data={"action": "approve", "reason": "precise on dev", "csrf": token(c)})
    assert r.status_code == 200 and "proposed -&gt; active" in r.text and "precise on dev" in r.text
    r = c.post("/lf/kw%3Ab/review", data={"action": "reject", "reason": "  ", "csrf": token(c)})
    assert "a reason is required" in r.text
    r = c.post("/lf/kw%3Ab/review", data={"action": "retire", "reason": "x", "csrf": token(c)})
    assert "cannot go from proposed to retired" in r.text
    c.post("/lf/kw%3Ab/review", data={"action": "reject", "reason": "fires on boilerplate", "csrf": token(c)})
    h = LFStore(store).get("kw:a").provenance["history"][-1]
    assert h["by"] == "web:ana" and h["reason"] == "precise on dev" and h["to"] == "active" and h["at"]
    raw = yaml.safe_load((store / "pin_blocked.yaml").read_text())["lfs"][0]
    assert raw["status"] == "rejected" and raw["provenance"]["history"][-1]["reason"] == "fires on boilerplate"
    # a rejected LF can be reopened; the CLI's change shows in the app at once (no stale cache)
    c.post("/lf/kw%3Ab/review", data={"action": "reopen", "reason": "second look", "csrf": token(c)})
    assert LFStore(store).get("kw:b").status == "proposed"
    r = cli("lf", "reject", "kw:b", "--store", store, "--reason", "from the CLI", "--by", "bob")
    assert r.returncode == 0, r.stderr
    page = c.get("/lf/kw%3Ab").text
    assert 'id="lf-status">rejected' in page and "from the CLI" in page
    assert "kw:b" in c.get("/queue?status=rejected").text and "kw:b" not in c.get("/queue").text


def test_edit_and_test_then_save_as_new_proposed_lf(fresh):
    store, app_ = fresh
    c = client(app_, "ana")
    page = c.get("/edit?source=kw%3Aa").text
    assert "kw:a:edit" in page
    bad = {"(a+)+$": "unsafe regex", "[": "does not compile"}
    for pattern, msg in bad.items():
        spec = yaml.safe_dump({"id": "try:re", "tag": "fee_charged", "kind": "regex", "params": {"pattern": pattern}})
        r = c.post("/edit", data={"action": "test", "spec": spec, "csrf": token(c)})
        assert r.status_code == 422 and msg in r.text
    for spec, msg in (("id: x\ntag: no_such_tag\nkind: keyword\nparams: {any: [x]}", "not in the tag list"),
                      ("id: x\ntag: fee_charged\nkind: keyword\nparams: {}", "keyword LF needs"),
                      ("id: x\ntag: fee_charged\nkind: keyword\nparams: {any: [x]}\nstatus: active", "can be edited"),
                      ("- not: a mapping", "one mapping"), ("id: [", "not valid YAML")):
        r = c.post("/edit", data={"action": "test", "spec": spec, "csrf": token(c)})
        assert r.status_code == 422 and msg in r.text, (spec, r.text[-800:])
    spec = "id: kw:a:edit\ntag: fee_charged\nkind: keyword\nparams: {any: [fee, charge]}\nrationale: broader\n"
    r = c.post("/edit", data={"action": "test", "spec": spec, "source": "kw:a", "csrf": token(c)})
    assert r.status_code == 200 and "Right on gold_dev" in r.text and "pool hits" in r.text
    assert "kw:a:edit" not in {s.id for s in LFStore(store).all()}  # testing saves nothing
    r = c.post("/edit", data={"action": "save", "spec": spec, "source": "kw:a", "reason": "", "csrf": token(c)})
    assert r.status_code == 422 and "reason is required" in r.text
    r = c.post("/edit", data={"action": "save", "spec": spec, "source": "kw:a", "reason": "covers 'charge'",
                              "csrf": token(c)})
    assert r.status_code == 200 and "saved as a proposed LF" in r.text
    new = LFStore(store).get("kw:a:edit")
    assert new.status == "proposed" and new.author == "web:ana" and new.provenance["edited_from"] == "kw:a"
    assert new.provenance["history"][0]["reason"] == "covers 'charge'" and new.params.any == ["fee", "charge"]
    r = c.post("/edit", data={"action": "save", "spec": spec, "reason": "again", "csrf": token(c)})
    assert r.status_code == 422 and "already exists" in r.text


def test_label_issues_confirm_and_skip_into_gold_review(site, app):
    c = client(app, "ana")
    gold = site["runs"] / "gold_review.csv"
    r = c.post("/runs/run-b/issues", data={"ticket_id": "conv-000001", "tag": "not_a_tag", "csrf": token(c)})
    assert r.status_code == 400
    r = c.post("/runs/run-b/issues", data={"ticket_id": "conv-000001", "tag": "card_not_arrived", "action": "confirm",
                                           "reason": "reads as not arrived", "csrf": token(c)})
    assert r.status_code == 200 and "card_not_arrived confirmed" in r.text
    c.post("/runs/run-b/issues", data={"ticket_id": "conv-000002", "action": "skip", "csrf": token(c)})
    g = pd.read_csv(gold, dtype=str)
    assert g[["ticket_id", "tag", "by", "run"]].values.tolist() == [["conv-000001", "card_not_arrived", "web:ana", "run-b"]]
    assert pd.read_csv(site["runs"] / "gold_review_skipped.csv", dtype=str)["ticket_id"].tolist() == ["conv-000002"]
    page = c.get("/runs/run-b/issues").text
    assert "nothing left to review" in page and "2 already reviewed" in page
    assert not list(site["runs"].glob(".gold_review*.tmp"))


def _post_review(app_, action, barrier, results):
    c = client(app_, "ana")
    t = token(c)
    barrier.wait()
    r = c.post("/lf/kw%3Aa/review", data={"action": action, "reason": f"{action} it", "csrf": t})
    results[action] = "-&gt; " in r.text and "cannot go" not in r.text


def _set_status(store, status, start):
    from labeling_functions.store import LFStore, LifecycleError

    start.wait()
    try:
        LFStore(store).set_status("kw:b", status, "proc", f"{status} from a process")
    except LifecycleError:
        pass


def test_concurrent_approve_and_reject_end_in_one_consistent_state(fresh):
    store, app_ = fresh
    results: dict = {}
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=_post_review, args=(app_, a, barrier, results)) for a in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    a = LFStore(store).get("kw:a")
    assert sum(results.values()) == 1, results  # exactly one of the two went through
    assert len(a.provenance["history"]) == 1
    assert a.status == a.provenance["history"][0]["to"] == ("active" if results["approve"] else "rejected")
    # the same from two processes (the CLI and the app are separate processes on one store)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_set_status, args=(store, s, start)) for s in ("active", "rejected")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    b = LFStore(store).get("kw:b")
    assert len(b.provenance["history"]) == 1 and b.status == b.provenance["history"][0]["to"]
    assert sorted(p.name for p in store.iterdir()) == ["fee_charged.yaml", "pin_blocked.yaml"]


def test_users_file_holds_hashes_only_and_cli_adds_users(tmp_path):
    users = tmp_path / "users.json"

    def run(*args, stdin=""):
        return cli("users", *args, "--users", users, input=stdin)

    r = run("add", "carla", "--role", "reviewer", "--password-stdin", stdin="a long secret phrase\n")
    assert r.returncode == 0, r.stderr
    assert run("add", "carla", "--role", "viewer", "--password-stdin", stdin="another secret\n").returncode == 2
    assert run("add", "dan", "--role", "admin", "--password-stdin", stdin="another secret\n").returncode == 2
    assert run("add", "dan", "--role", "viewer", "--password-stdin", stdin="short\n").returncode == 2
    text = users.read_text()
    assert "a long secret phrase" not in text and "$argon2id$" in text
    assert users.stat().st_mode & 0o077 == 0  # written through a private temp file
    from tagger.web.users import Users

    assert Users(users).verify("carla", "a long secret phrase") == "reviewer"
    assert Users(users).verify("carla", "wrong") is None and Users(users).verify("nobody", "x") is None
    assert "carla\treviewer" in run("list").stdout
