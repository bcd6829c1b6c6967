"""Batch (air-gapped) proposals: the ``openai`` proposer's requests leave as an OpenAI Batch API input
file, and its output file (or a folder of plain reply texts) comes back later.

The batch folder holds:

- ``round-NN/requests.jsonl``  the round's requests in the Batch API input format (``custom_id``,
  ``method``, ``url``, ``body``), masked exactly as live requests are;
- ``round-NN/prompts/<custom_id>.md``  the same requests as readable text, for an approval channel;
- ``round-NN/replies/``  a copy of every reply file imported for that round, as received;
- ``pending.json``  the round awaiting replies and its ``custom_id``s;
- ``replies.jsonl``  every imported reply (content, usage or error), the loop's whole state.

Resuming needs no pickled state: every round's requests are a pure function of the config, the data
and the earlier rounds' replies, so the loop replays from round 0 on the stored replies and stops at
the first round that has none (after writing its requests). Each ``custom_id`` carries a hash of its
request body, so a reply can only ever answer the request it was written for: a file from another
round, config or data is refused by name, as are missing or duplicated ids and truncated lines.
Nothing is stored until the whole file has validated.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from data.atomic import atomic_write_text
from llm_rulegen.base import Proposal, RoundContext
from llm_rulegen.openai_backend import OpenAIProposer, add_reply, empty_usage, estimate_tokens

URL = "/v1/chat/completions"


class BatchError(ValueError):
    """A reply file or batch folder that cannot be used; the message says what and where."""


class AwaitingReplies(Exception):
    """The loop reached a round whose replies have not been imported yet (its requests are written)."""

    def __init__(self, round_no: int, requests_file: Path, n: int):
        self.round, self.requests_file, self.n = round_no, requests_file, n
        super().__init__(f"round {round_no}: {n} requests written to {requests_file}; awaiting their replies")


def custom_id(round_no: int, i: int, body: dict) -> str:
    h = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    return f"r{round_no:02d}-{i:03d}-{h}"


def _round_of(cid: str) -> int | None:
    try:
        return int(cid.split("-", 1)[0][1:]) if cid.startswith("r") else None
    except ValueError:
        return None


class BatchFolder:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.pending_file = self.root / "pending.json"
        self.replies_file = self.root / "replies.jsonl"

    def round_dir(self, round_no: int) -> Path:
        return self.root / f"round-{round_no:02d}"

    def replies(self) -> dict[str, dict]:
        if not self.replies_file.exists():
            return {}
        out = {}
        for n, line in enumerate(self.replies_file.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    raise BatchError(f"{self.replies_file}:{n}: damaged line in the reply store") from None
                out[rec["custom_id"]] = rec
        return out

    def pending(self) -> dict | None:
        return json.loads(self.pending_file.read_text(encoding="utf-8")) if self.pending_file.exists() else None

    def export(self, round_no: int, requests: list[tuple[str, list[str], dict]], meta: dict) -> Path:
        """Write the round's Batch API input file, its readable prompts and ``pending.json``."""
        d = self.round_dir(round_no)
        lines = [json.dumps({"custom_id": cid, "method": "POST", "url": URL, "body": body}, ensure_ascii=False)
                 for cid, _, body in requests]
        path = atomic_write_text(d / "requests.jsonl", "\n".join(lines) + "\n")
        for cid, tags, body in requests:
            text = "\n\n".join(f"## {m['role']}\n\n{m['content']}" for m in body["messages"])
            atomic_write_text(d / "prompts" / f"{cid}.md", f"# request {cid} (tags: {', '.join(tags)})\n\n{text}\n")
        atomic_write_text(self.pending_file, json.dumps({
            **meta, "round": round_no, "requests_file": str(path), "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "requests": {cid: {"tags": tags, "prompt_chars": sum(len(m["content"]) for m in body["messages"])}
                         for cid, tags, body in requests}}, indent=1))
        return path

    # -- import -------------------------------------------------------------------------
    def import_replies(self, src: str | Path) -> dict:
        """Validate ``src`` (a Batch API output JSONL file, or a folder of ``<custom_id>.txt|.json``
        reply texts) against the pending round, then store it. Raises :class:`BatchError` naming every
        problem; on error nothing is stored."""
        src = Path(src)
        pend = self.pending()
        if pend is None:
            raise BatchError(f"nothing in {self.root} is awaiting replies (no pending.json): export a round first")
        if not src.exists():
            raise BatchError(f"reply file or folder not found: {src}")
        records, problems = (_read_folder(src) if src.is_dir() else _read_jsonl(src))
        expected = pend["requests"]
        seen: dict[str, int] = {}
        for rec in records:
            seen[rec["custom_id"]] = seen.get(rec["custom_id"], 0) + 1
        dups = sorted(c for c, k in seen.items() if k > 1)
        if dups:
            problems.append(f"duplicated custom_id: {', '.join(dups[:5])}")
        unknown = sorted(c for c in seen if c not in expected)
        if unknown:
            rounds = sorted({_round_of(c) for c in unknown} - {None})
            where = (f"they belong to round(s) {rounds}, not to round {pend['round']}" if rounds else
                     "they are not ids this tool writes")
            problems.append(f"{len(unknown)} custom_id(s) are not requests of the pending round {pend['round']} of "
                            f"config {pend.get('config')!r} ({where}; a reply file for another round, config or "
                            f"data?): {', '.join(unknown[:5])}")
        missing = sorted(c for c in expected if c not in seen)
        if missing:
            problems.append(f"{len(missing)} of the {len(expected)} requests of round {pend['round']} have no reply: "
                            f"{', '.join(missing[:5])}")
        if problems:
            raise BatchError(f"{src}: cannot import, nothing was stored:\n  - " + "\n  - ".join(problems))
        stored = self.replies()
        for rec in records:
            rec.update(round=pend["round"], tags=expected[rec["custom_id"]]["tags"], source=src.name,
                       prompt_chars=expected[rec["custom_id"]]["prompt_chars"])
            stored[rec["custom_id"]] = rec
        keep = self.round_dir(pend["round"]) / "replies" / src.name
        if src.is_dir():
            shutil.copytree(src, keep, dirs_exist_ok=True)
        else:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, keep)
        atomic_write_text(self.replies_file, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in stored.values()))
        self.pending_file.unlink()
        return {"round": pend["round"], "replies": len(records), "errors": sum(r["error"] is not None for r in records)}


def _read_jsonl(path: Path) -> tuple[list[dict], list[str]]:
    """Batch API output lines: ``{"custom_id", "response": {"status_code", "body"}, "error"}``."""
    records, problems = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"line {n}: not valid JSON ({e.msg}; a truncated line?)")
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("custom_id"), str):
            problems.append(f"line {n}: no custom_id")
            continue
        rec = {"custom_id": obj["custom_id"], "content": None, "usage": None, "error": None}
        resp = obj.get("response") or {}
        if obj.get("error"):
            err = obj["error"]
            rec["error"] = f"{err.get('code')}: {err.get('message')}" if isinstance(err, dict) else str(err)
        elif resp.get("status_code") != 200:
            body = resp.get("body") or {}
            msg = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
            rec["error"] = f"HTTP {resp.get('status_code')}: {msg or 'no message'}"
        else:
            body = resp.get("body") or {}
            try:
                rec["content"] = body["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError):
                rec["error"] = "response body holds no choices[0].message.content"
            rec["usage"] = body.get("usage") if isinstance(body, dict) else None
        records.append(rec)
    return records, problems


def _read_folder(path: Path) -> tuple[list[dict], list[str]]:
    """Plain reply texts, one file per request, named ``<custom_id>.txt`` or ``<custom_id>.json``."""
    records = [{"custom_id": f.stem, "content": f.read_text(encoding="utf-8"), "usage": None, "error": None}
               for f in sorted(path.iterdir()) if f.is_file() and f.suffix in (".txt", ".json")]
    return records, ([] if records else [f"{path} holds no <custom_id>.txt or .json reply files"])


def _usage(rec: dict) -> tuple[dict, list[dict]]:
    """Tokens of a stored reply: its usage block when valid, else a local estimate (recorded as such)."""
    if rec.get("error"):  # a failed batch request is not billed
        return {"prompt_tokens": 0, "completion_tokens": 0}, []
    u = rec.get("usage") or {}
    pt, ct = u.get("prompt_tokens"), u.get("completion_tokens")
    if isinstance(pt, int) and isinstance(ct, int) and pt >= 0 and ct >= 0:
        return {"prompt_tokens": pt, "completion_tokens": ct}, []
    est = {"prompt_tokens": (rec.get("prompt_chars", 0) + 3) // 4,
           "completion_tokens": estimate_tokens(rec.get("content") or "")}
    return est, [{"event": "usage_estimated", **est}]


class BatchProposer(OpenAIProposer):
    """The ``openai`` proposer over files: builds the same masked requests, then either answers the
    round from the imported replies or writes the round's Batch API input file and raises
    :class:`AwaitingReplies`. Cost uses the model's prices times ``batch_discount``."""
    name = "openai"
    replays = True  # the loop replays earlier rounds on every import: wall-clock budgets do not apply

    def __init__(self, settings, folder: str | Path, config_name: str = ""):
        self.s, self.model, self.structured = settings, settings.model, settings.structured_output
        self.folder, self.config_name = BatchFolder(folder), config_name

    def propose(self, ctx: RoundContext) -> Proposal:
        bodies = [(tags, self.body(m)) for tags, m in self.round_requests(ctx)]
        reqs = [(custom_id(ctx.round, i, body), tags, body) for i, (tags, body) in enumerate(bodies)]
        stored = self.folder.replies()
        got = [stored.get(cid) for cid, _, _ in reqs]
        if not all(got):
            if any(_round_of(c) == ctx.round for c in stored):
                raise BatchError(f"{self.folder.root}: the stored replies of round {ctx.round} answer "
                                 f"{sum(map(bool, got))} of the {len(reqs)} requests this run builds (config, data or "
                                 f"code changed since the export); use a new batch folder")
            path = self.folder.export(ctx.round, reqs, {"config": self.config_name, "model": self.model})
            raise AwaitingReplies(ctx.round, path, len(reqs))
        prop = Proposal(items=[], usage=empty_usage())
        for (cid, tags, _), rec in zip(reqs, got):
            usage, events = _usage(rec)
            usage = {**usage, "requests": 1, "cost_usd": self._cost(usage, self.s.batch_discount)}
            if rec.get("error"):
                events.append({"event": "batch_error", "custom_id": cid, "detail": rec["error"][:300]})
            elif len(rec["content"] or "") > self.s.max_reply_chars:
                events.append({"event": "oversized_reply", "custom_id": cid, "chars": len(rec["content"])})
                rec = {**rec, "content": None}
            add_reply(prop, tags, None if rec.get("error") else rec["content"], usage, events)
        return prop
