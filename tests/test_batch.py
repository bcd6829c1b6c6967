"""Batch (air-gapped) proposals through the real CLI: export a round as a Batch API input file, answer it
with a Batch API output file, import it (gate, provenance, cost from usage), export the next round;
and every kind of bad reply file is refused by name with nothing stored."""
import json
import re
import shutil
from pathlib import Path

import pytest

from llm_rulegen.batch import BatchError, BatchFolder
from tests.llm_server import tag_keyword_lfs
from tests.tiny_configs import TINY
from tests.tiny_configs import cli as tagger  # the tagger CLI, run in this process


def _output_line(req: dict, content: str | None = None, usage=(900, 120), error=None, status=200) -> dict:
    """One line of a Batch API output file answering ``req`` (a line of the input file)."""
    if error:
        return {"id": "batch_req_x", "custom_id": req["custom_id"], "response": None,
                "error": {"code": "server_error", "message": error}}
    body = {"id": "chatcmpl-b", "object": "chat.completion", "model": req["body"]["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}
    return {"id": "batch_req_x", "custom_id": req["custom_id"],
            "response": {"status_code": status, "request_id": "req_x", "body": body}, "error": None}


def _answer(requests_file: Path, out: Path, error_first: bool = False) -> list[dict]:
    reqs = [json.loads(x) for x in requests_file.read_text().splitlines()]
    lines = []
    for i, q in enumerate(reqs):
        if error_first and i == 0:
            lines.append(_output_line(q, error="the model is overloaded"))
        else:
            lines.append(_output_line(q, json.dumps({"lfs": tag_keyword_lfs(q["body"])})))
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return reqs


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory, tiny_seed):
    tmp = tiny_seed(tmp_path_factory.mktemp("batch"))  # the demo data and its MiniLM embeddings
    cfg = tmp / "tiny.yaml"
    cfg.write_text(TINY.format(out=tmp, mode="frozen") +
                   "refine: {enabled: true, backend: miner, max_rounds: 2, patience: 5, "
                   "gate: {min_precision: 0.5, min_support: 1}, openai: {model: gpt-4o-mini, tags_per_request: 4}}\n")
    folder = tmp / "batch"
    r = tagger("refine", str(cfg), "--export-requests", str(folder), "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, cfg, folder, r


def test_export_writes_batch_api_input_and_the_instructions(batch_run):
    tmp, cfg, folder, r = batch_run
    req_file = folder / "round-01" / "requests.jsonl"
    reqs = [json.loads(x) for x in req_file.read_text().splitlines()]
    assert len(reqs) >= 2 and {q["method"] for q in reqs} == {"POST"} and {q["url"] for q in reqs} == {"/v1/chat/completions"}
    assert all(q["custom_id"].startswith("r01-") and q["body"]["model"] == "gpt-4o-mini" for q in reqs)
    assert all(q["body"]["messages"][0]["role"] == "system" for q in reqs)
    assert "(a OR b) AND c" in reqs[0]["body"]["messages"][0]["content"]
    assert len(list((folder / "round-01" / "prompts").glob("*.md"))) == len(reqs)
    assert "--import-replies" in r.stdout and str(req_file) in r.stdout
    pend = json.loads((folder / "pending.json").read_text())
    assert pend["round"] == 1 and set(pend["requests"]) == {q["custom_id"] for q in reqs}
    # no raw e-mail address of the demo dialogues is in any request
    raw = (tmp / "demo" / "gold_dev.jsonl").read_text()
    assert "@" in raw and "@example" not in req_file.read_text()


def test_bad_reply_files_are_refused_by_name_and_nothing_is_stored(batch_run, tmp_path):
    tmp, cfg, folder, _ = batch_run
    bf = BatchFolder(folder)
    good = tmp_path / "good.jsonl"
    reqs = _answer(folder / "round-01" / "requests.jsonl", good)
    lines = good.read_text().splitlines()
    cases = {
        "truncated.jsonl": ("\n".join(lines[:-1] + [lines[-1][:40]]) + "\n", "line %d: not valid JSON" % len(lines)),
        "missing.jsonl": ("\n".join(lines[1:]) + "\n", f"1 of the {len(reqs)} requests of round 1 have no reply"),
        "duplicated.jsonl": ("\n".join(lines + lines[:1]) + "\n", "duplicated custom_id"),
        "other_round.jsonl": ("\n".join(lines).replace('"r01-', '"r02-') + "\n", "belong to round(s) [2]"),
        "other_config.jsonl": ("\n".join(x.replace(reqs[0]["custom_id"], "r01-000-0123456789abcdef") for x in lines) + "\n",
                               "not requests of the pending round 1"),
    }
    for name, (text, expected) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(BatchError, match=re.escape(expected)) as e:
            bf.import_replies(p)
        assert name in str(e.value)
        assert bf.replies() == {} and bf.pending()["round"] == 1  # nothing stored, still pending
    r = tagger("refine", str(cfg), "--import-replies", str(tmp_path / "truncated.jsonl"), "--batch-dir", str(folder))
    assert r.returncode == 2 and "truncated.jsonl" in r.stderr and "Traceback" not in r.stderr


def test_import_runs_the_round_and_exports_the_next(batch_run, tmp_path):
    tmp, cfg, folder, _ = batch_run
    out = tmp_path / "batch_output.jsonl"
    reqs = _answer(folder / "round-01" / "requests.jsonl", out, error_first=True)
    r = tagger("refine", str(cfg), "--import-replies", str(out), "--batch-dir", str(folder), "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"imported {len(reqs)} replies of round 1 (1 error lines)" in r.stdout
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    rounds = json.loads((run_dir / "refine" / "rounds.json").read_text())
    r1 = rounds[0]
    assert r1["usage"]["requests"] == len(reqs) and r1["usage"]["prompt_tokens"] == 900 * (len(reqs) - 1)
    # cost from the usage fields at the batch price (half of gpt-4o-mini's); the failed request is not billed
    assert r1["usage"]["cost_usd"] == pytest.approx(0.5 * (len(reqs) - 1) * (900 * 0.15 + 120 * 0.60) / 1e6)
    assert any(e["event"] == "batch_error" and "overloaded" in e["detail"] for e in r1["events"])
    assert len(r1["added"]) > 0
    gen = (run_dir / "refine" / "generated_lfs.yaml").read_text()
    assert "backend: openai" in gen and "model: gpt-4o-mini" in gen and "round: 1" in gen
    # the next round's requests are out, the replies kept as received
    pend = BatchFolder(folder).pending()
    assert pend["round"] == 2 and (folder / "round-02" / "requests.jsonl").exists()
    assert (folder / "round-01" / "replies" / "batch_output.jsonl").read_text() == out.read_text()
    assert "round 2:" in r.stdout and "--import-replies" in r.stdout
    # a folder of plain reply texts named by custom_id answers round 2; usage is estimated locally
    replies = tmp_path / "round2"
    replies.mkdir()
    for line in (folder / "round-02" / "requests.jsonl").read_text().splitlines():
        q = json.loads(line)
        (replies / f"{q['custom_id']}.txt").write_text(json.dumps({"lfs": tag_keyword_lfs(q["body"])}))
    r = tagger("refine", str(cfg), "--import-replies", str(replies), "--batch-dir", str(folder), "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    rounds = json.loads((run_dir / "refine" / "rounds.json").read_text())
    assert [x["round"] for x in rounds] == [0, 1, 2]
    assert rounds[0]["added"] == r1["added"]  # the replay reproduces round 1 exactly
    assert any(e["event"] == "usage_estimated" for e in rounds[1]["events"]) and rounds[1]["usage"]["prompt_tokens"] > 0
    assert BatchFolder(folder).pending() is None and "the loop has stopped" in r.stdout
    # a stale store (replies for other requests of a round) is refused, not silently re-exported
    stale = tmp_path / "stale"
    shutil.copytree(folder, stale)
    store = (stale / "replies.jsonl").read_text().replace('"custom_id": "r01-000-', '"custom_id": "r01-000-x')
    (stale / "replies.jsonl").write_text(store)
    r = tagger("refine", str(cfg), "--export-requests", str(stale), "--quiet")
    assert r.returncode == 2 and "changed since the export" in r.stderr
