"""The rule-generation loop against a real local OpenAI-compatible HTTP server, with the real
openai client: good proposals, malformed JSON, schema-invalid LFs, a catastrophic regex, 429 then
success, 500, a timeout, an oversized reply, no structured-output support; and PII never sent."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from llm_rulegen.gate import GateConfig, gate_lfs
from llm_rulegen.openai_backend import OpenAIProposer, parse_reply
from tagger.config import OpenAISettings
from tests.llm_server import LLMServer, Script, completion, tag_keyword_lfs

TAGS = ["card_lost_or_stolen", "fee_charged", "transfer_failed"]


def settings(**kw):
    base = dict(model="gpt-4o-mini", timeout_s=2.0, max_retries=2, backoff_s=0.01, tags_per_request=6)
    base.update(kw)
    return OpenAISettings(**base)


@pytest.fixture
def ctx():
    from llm_rulegen.base import RoundContext, TagErrors

    dev = pd.DataFrame({"ticket_id": ["d1", "d2", "d3", "d4"], "tag": ["card_lost_or_stolen", "card_lost_or_stolen", "fee_charged", "transfer_failed"],
                        "text": ["customer: my card was stolen, mail me at anna.k@mail.de",
                                 "customer: lost my card 4111 1111 1111 1111", "customer: why a fee? call +44 7123 456789",
                                 "customer: transfer to GB29 NWBK 6016 1331 9268 19 failed"]})
    errs = {t: TagErrors(tag=t, description=t.replace("_", " "), dev_f1=0.5,
                         false_negatives=dev[dev.tag == t].assign(predicted="fee_charged")[["ticket_id", "text", "predicted"]],
                         false_positives=pd.DataFrame(columns=["ticket_id", "text", "gold", "lfs_fired"]),
                         examples=dev[dev.tag == t][["ticket_id", "text"]], confusable=["fee_charged"]) for t in TAGS}
    return RoundContext(round=1, tags=TAGS, descriptions={t: t for t in TAGS}, pool=dev[["ticket_id", "text"]],
                        pool_pseudo=np.zeros(4, int), dev_gate=dev, lfs=[], lf_stats=pd.DataFrame(), errors=errs)


GOOD = {"lfs": [{"action": "add", "id": "llm:card:stolen", "tag": "card_lost_or_stolen", "kind": "keyword",
                 "params": {"any": ["stolen", "lost my card"]}, "rationale": "theft words", "motivating_tickets": ["d1"]}]}


def test_well_formed_structured_reply(ctx, monkeypatch, tmp_path):
    script = Script([("json", completion(json.dumps(GOOD), 120, 40))])
    with LLMServer(script) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        p = OpenAIProposer(settings(base_url=srv.base_url), cache_dir=tmp_path)
        prop = p.propose(ctx)
    assert prop.items == GOOD["lfs"]
    assert prop.usage["prompt_tokens"] == 120 and prop.usage["completion_tokens"] == 40
    assert prop.usage["cost_usd"] == pytest.approx(120 / 1e6 * 0.15 + 40 / 1e6 * 0.60)
    body = script.requests[0]
    assert body["model"] == "gpt-4o-mini" and body["response_format"]["type"] == "json_schema"
    assert body["messages"][0]["role"] == "system" and "Tag: card_lost_or_stolen" in body["messages"][1]["content"]


def test_no_pii_leaves_the_machine(ctx, monkeypatch, tmp_path):
    script = Script([("json", completion(json.dumps(GOOD)))])
    with LLMServer(script) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        OpenAIProposer(settings(base_url=srv.base_url), cache_dir=None).propose(ctx)
    sent = json.dumps(script.requests)
    for raw in ("anna.k@mail.de", "4111 1111 1111 1111", "7123 456789", "GB29 NWBK"):
        assert raw not in sent
    assert "[EMAIL]" in sent and "[CARD]" in sent and "[PHONE]" in sent and "[IBAN]" in sent


def test_cache_makes_a_rerun_free_and_identical(ctx, monkeypatch, tmp_path):
    script = Script([("json", completion(json.dumps(GOOD)))])
    with LLMServer(script) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        a = OpenAIProposer(settings(base_url=srv.base_url), cache_dir=tmp_path).propose(ctx)
        b = OpenAIProposer(settings(base_url=srv.base_url), cache_dir=tmp_path).propose(ctx)
    assert len(script.requests) == 1 and a.items == b.items
    assert b.usage["cache_hits"] == 1 and b.usage["prompt_tokens"] == 0


@pytest.mark.parametrize("steps, event, n_requests", [
    ([("status", 429), ("json", completion(json.dumps(GOOD)))], "retry", 2),
    ([("status", 500)], "gave_up", 3),
    ([("sleep", 3.0, completion(json.dumps(GOOD)))], "gave_up", 3),
    ([("json", completion("x" * 5000))], "oversized_reply", 1),
    ([("json", completion("Sure! here you go: {lfs: [oops"))], "malformed_reply", 1),
    ([("reject_schema",), ("json", completion("Here:\n```json\n" + json.dumps(GOOD) + "\n```"))],
     "structured_output_unsupported", 2),
])
def test_failures_are_survived_and_recorded(ctx, monkeypatch, steps, event, n_requests):
    script = Script(steps)
    with LLMServer(script) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        s = settings(base_url=srv.base_url, timeout_s=0.5, max_reply_chars=4000)
        prop = OpenAIProposer(s, cache_dir=None, sleep=lambda _: None).propose(ctx)
    assert event in [e["event"] for e in prop.events]
    assert len(script.requests) == n_requests
    if event in ("retry", "structured_output_unsupported"):
        assert prop.items == GOOD["lfs"]
    else:
        assert prop.items == []
    if event == "structured_output_unsupported":
        assert "response_format" in script.requests[0] and "response_format" not in script.requests[1]


def test_parse_reply_variants():
    assert parse_reply(json.dumps(GOOD)) == GOOD["lfs"]
    assert parse_reply("blah ```json\n" + json.dumps(GOOD) + "``` end") == GOOD["lfs"]
    assert parse_reply("prefix " + json.dumps(GOOD) + " suffix") == GOOD["lfs"]
    with pytest.raises(ValueError):
        parse_reply('{"rules": []}')


def test_gate_rejects_bad_specs_and_never_executes_them():
    pool = pd.DataFrame({"ticket_id": [f"p{i}" for i in range(6)], "text": [
        "my card was stolen", "card stolen at the bar", "a fee of 2", "fee again", "transfer failed", "hello"]})
    dev = pd.DataFrame({"ticket_id": ["d1", "d2", "d3", "d4"], "text": ["card stolen", "stolen card", "a fee", "stolen fee"],
                        "tag": ["card_lost_or_stolen", "card_lost_or_stolen", "fee_charged", "fee_charged"]})
    cands = [
        {"id": "ok", "tag": "card_lost_or_stolen", "kind": "keyword", "params": {"any": ["stolen"]}},
        {"id": "ok2", "tag": "card_lost_or_stolen", "kind": "keyword", "params": {"any": ["stolen", "stolen card"]}},
        {"id": "evil", "tag": "fee_charged", "kind": "regex", "params": {"pattern": "(a+)+$"}},
        {"id": "code", "tag": "fee_charged", "kind": "python", "params": {"code": "__import__('os').system('x')"}},
        {"id": "nofield", "tag": "fee_charged", "kind": "keyword", "params": {}},
        {"id": "ghost", "tag": "no_such_tag", "kind": "keyword", "params": {"any": ["x"]}},
        {"id": "vague", "tag": "fee_charged", "kind": "keyword", "params": {"any": ["stolen"]}},
        {"id": "rare", "tag": "transfer_failed", "kind": "keyword", "params": {"any": ["transfer failed"]}},
    ]
    res = gate_lfs(cands, TAGS, pool, dev, [], {}, GateConfig(min_precision=0.6, min_support=2, max_coverage=0.6))
    assert [s.id for s in res.accepted] == ["ok"]
    assert res.accepted[0].status == "proposed" and res.accepted[0].provenance["gate"]["dev_precision"] == pytest.approx(2 / 3, abs=1e-4)
    reasons = {r["id"]: r["reason"] for r in res.rejected}
    assert reasons == {"ok2": "near_duplicate", "evil": "unsafe_regex", "code": "schema", "nofield": "schema",
                       "ghost": "unknown_tag", "vague": "low_precision", "rare": "low_support"}


def test_catastrophic_regex_is_rejected_fast():
    import time

    from labeling_functions.regex import UnsafeRegex, check_regex

    t = time.perf_counter()
    for p in [r"(a+)+$", r"(\w*)*x", r"(a|aa)+b", r"(x+x+)+y", r"(.*a){20}"]:
        with pytest.raises(UnsafeRegex):
            check_regex(p)
    assert time.perf_counter() - t < 0.5
    check_regex(r"\bcard\b[^\n]{0,40}\bstolen\b")


def _demo_reply(body: dict) -> str:
    """Server-side stand-in for an LLM: keyword LFs from the tag names in the request, plus one
    catastrophic regex and one schema-invalid LF in every reply (the gate must drop both)."""
    lfs = tag_keyword_lfs(body)
    lfs.append({"action": "add", "id": "llm:evil", "tag": lfs[0]["tag"], "kind": "regex", "params": {"pattern": "(a+)+$"}})
    lfs.append({"action": "add", "id": "llm:bad", "tag": lfs[0]["tag"], "kind": "keyword", "params": {"none": 1}})
    return json.dumps({"lfs": lfs})


def test_refine_cli_loop_over_http_survives_failures_and_masks_pii(tmp_path, tiny_seed):
    import sqlite3
    from pathlib import Path

    from tests.tiny_configs import TINY, cli

    tiny_seed(tmp_path)  # the demo data and its MiniLM embeddings
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY.format(out=tmp_path, mode="frozen") +
                   "refine: {enabled: true, backend: openai, max_rounds: 2, patience: 5, gate: {min_precision: 0.5, min_support: 1},"
                   " openai: {model: test-model, timeout_s: 1.0, max_retries: 2, backoff_s: 0.01, tags_per_request: 4}}\n")
    # the first requests fail in every way; later ones get proposals
    script = Script([("status", 429), ("json", completion("not json at all")), ("status", 500), ("status", 500),
                     ("status", 500), ("sleep", 2.0, completion("{}")), ("sleep", 2.0, completion("{}")),
                     ("sleep", 2.0, completion("{}")), ("json", completion("y" * 200_000))], default=_demo_reply)
    with LLMServer(script) as srv:
        # the tagger CLI in this process; the LLM is the local HTTP server above, reached over real HTTP
        r = cli("refine", cfg, "--quiet", env={"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": srv.base_url})
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    rounds = json.loads((run_dir / "refine" / "rounds.json").read_text())
    assert [x["round"] for x in rounds] == [0, 1, 2]
    events = {e["event"] for x in rounds for e in x.get("events", [])}
    assert {"retry", "gave_up", "malformed_reply", "oversized_reply"} <= events
    assert sum(len(x.get("added", [])) for x in rounds) > 0  # later replies produced gated LFs
    assert rounds[0]["usage"]["requests"] >= 5 and rounds[0]["usage"]["prompt_tokens"] > 0
    rejected = pd.read_csv(run_dir / "refine" / "rejected.csv")
    assert {"unsafe_regex", "schema"} <= set(rejected["reason"])
    gen = (run_dir / "refine" / "generated_lfs.yaml").read_text()
    assert "(a+)+" not in gen and "backend: openai" in gen and "model: test-model" in gen
    # no raw PII from the demo dialogues reached any request
    con = sqlite3.connect(tmp_path / "demo" / "support.db")
    bodies = " ".join(b for (b,) in con.execute("SELECT body FROM messages"))
    con.close()
    pii = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*", bodies)) | set(re.findall(r"\b\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}\b", bodies))
    pii |= set(re.findall(r"\+44 7\d{3} \d{6}", bodies))
    assert len(pii) > 20
    sent = json.dumps(script.requests)
    assert len(script.requests) >= 10
    leaked = [p for p in pii if p in sent]
    assert leaked == []


def _proposer(srv, tmp_path, sleeps=None, **kw):
    sl = sleeps.append if sleeps is not None else (lambda s: None)
    return OpenAIProposer(settings(base_url=srv.base_url, **kw), cache_dir=tmp_path, sleep=sl)


def test_retry_after_is_honoured_with_jitter(ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    script = Script([("status", 429, {"error": {"message": "slow down"}}, {"Retry-After": "7"}),
                     ("json", completion(json.dumps(GOOD)))])
    sleeps: list[float] = []
    with LLMServer(script) as srv:
        prop = _proposer(srv, tmp_path, sleeps, backoff_s=0.01).propose(ctx)
    assert prop.items == GOOD["lfs"]
    assert len(sleeps) == 1 and 7.0 <= sleeps[0] <= 7.0 * 1.25  # the server's wait, not 0.01 s


def test_a_server_dribbling_bytes_cannot_outlast_the_deadline(ctx, monkeypatch, tmp_path):
    """Each byte arrives well within the 2 s read timeout, the whole reply would take 10 s: the attempt
    ends at the 1 s deadline as a timeout, is retried once, and the round goes on without it."""
    import time

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with LLMServer(Script([("dribble", 10.0, completion(json.dumps(GOOD)))])) as srv:
        t0 = time.monotonic()
        prop = _proposer(srv, tmp_path, deadline_s=1.0, max_retries=1).propose(ctx)
        took = time.monotonic() - t0
    assert prop.items == [] and took < 5.0, took
    events = [e for e in prop.events if e["event"] in ("retry", "gave_up")]
    assert [e["event"] for e in events] == ["retry", "gave_up"]
    assert {e["error"] for e in events} == {"APITimeoutError"}


@pytest.mark.parametrize("step", [("raw", 200, "text/html", "<html><body>gateway</body></html>"),
                                  ("raw", 200, "application/json", '{"id": "x", "choices": [{"ind'),
                                  ("json", {"id": "x", "object": "chat.completion", "choices": [{"index": 0}]})])
def test_a_broken_200_reply_is_an_event_with_its_spend_counted(ctx, monkeypatch, tmp_path, step):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with LLMServer(Script([step])) as srv:
        prop = _proposer(srv, tmp_path).propose(ctx)  # never raises
    events = {e["event"] for e in prop.events}
    assert prop.items == [] and ({"bad_response", "empty_reply"} & events)
    assert prop.usage["prompt_tokens"] > 0  # the prompt the server may have billed is counted (estimated)


def test_bad_usage_is_estimated_so_the_budget_stays_effective(ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    body = completion(json.dumps(GOOD))
    body["usage"] = {"prompt_tokens": -5_000_000_000, "completion_tokens": -1}
    with LLMServer(Script([("json", body)])) as srv:
        prop = _proposer(srv, tmp_path).propose(ctx)
    assert prop.usage["prompt_tokens"] > 100 and prop.usage["cost_usd"] > 0
    assert any(e["event"] == "usage_estimated" for e in prop.events)


def test_malformed_replies_are_never_cached_and_a_broken_cache_is_a_miss(ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    script = Script([("json", completion("sorry, no JSON today"))], default=lambda b: json.dumps(GOOD))
    with LLMServer(script) as srv:
        first = _proposer(srv, tmp_path).propose(ctx)
        assert first.items == [] and not list(tmp_path.glob("*.json"))  # the malformed reply was not cached
        second = _proposer(srv, tmp_path).propose(ctx)
        assert second.items == GOOD["lfs"] and len(script.requests) == 2
        cached = list(tmp_path.glob("*.json"))
        assert len(cached) == 1
        cached[0].write_text(cached[0].read_text()[:25])  # a truncated cache file
        third = _proposer(srv, tmp_path).propose(ctx)
    assert third.items == GOOD["lfs"] and len(script.requests) == 3
    assert any(e["event"] == "cache_unreadable" for e in third.events)


def test_budget_is_checked_before_each_request(ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    script = Script([], default=lambda b: json.dumps(GOOD))
    ctx.budget = {"tokens": 10_000, "cost_usd": 5.0}
    with LLMServer(script) as srv:
        # one tag per request; each reply reports 100 + 50 tokens: 3 requests fit 10,000 tokens
        p = _proposer(srv, tmp_path, tags_per_request=1)
        assert len(p.propose(ctx).items) == 3
        ctx.budget = {"tokens": 120, "cost_usd": 5.0}  # room for one request only
        prop = _proposer(srv, tmp_path / "nocache", tags_per_request=1).propose(ctx)
    assert prop.usage["requests"] == 1
    assert any(e["event"] == "budget_exhausted" and e["skipped_requests"] == 2 for e in prop.events)
