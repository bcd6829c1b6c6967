"""``openai`` proposer: the official ``openai`` client against any OpenAI-compatible
chat-completions endpoint (OpenAI, Azure, vLLM, Ollama), configured by ``OPENAI_API_KEY`` /
``OPENAI_BASE_URL`` (or ``refine.openai.base_url``) and ``refine.openai.model``.

- asks for structured output (a JSON schema); when the server rejects ``response_format`` it
  retries without it and parses JSON out of the text (fenced or bare), then validates it;
- retries with exponential backoff on 429, 5xx, timeouts and connection errors, never sooner than
  the server's ``Retry-After``; per-read ``timeout_s`` and an overall ``deadline_s`` per attempt, so a
  server that sends a byte at a time cannot hold a request open;
- a reply longer than ``max_reply_chars`` is discarded;
- usage (tokens, cost from ``prices``) is recorded per request and summed per round, and the loop
  stops at its token / money budget;
- a response cache keyed by the request content (model, messages, options): a rerun costs nothing
  and reproduces the same LFs.

Nothing returned is executed: replies become dicts that the gate validates as LF specs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from pathlib import Path

import httpx

from data.atomic import atomic_write_text
from llm_rulegen.base import Proposal, RoundContext
from llm_rulegen.prompts import VERSION, build_messages

log = logging.getLogger("tagger.llm")

PROPOSAL_SCHEMA = {
    "type": "object",
    "properties": {"lfs": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["add", "edit", "retire"]},
            "id": {"type": "string"}, "tag": {"type": "string"},
            "kind": {"type": "string", "enum": ["keyword", "regex"]},
            "params": {"type": "object"}, "rationale": {"type": "string"},
            "motivating_tickets": {"type": "array", "items": {"type": "string"}}},
        "required": ["action", "id"]}}},
    "required": ["lfs"],
}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


class ReplyError(ValueError):
    pass


def parse_reply(text: str) -> list:
    """JSON from a reply: the whole text, a fenced block, or the outermost ``{...}``; must hold ``lfs``."""
    cands = [text]
    cands += _FENCE.findall(text)
    if "{" in text and "}" in text:
        cands.append(text[text.index("{"): text.rindex("}") + 1])
    for c in cands:
        try:
            obj = json.loads(c)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(obj, dict) and isinstance(obj.get("lfs"), list):
            return obj["lfs"]
        if isinstance(obj, list):
            return obj
    raise ReplyError("reply holds no JSON object with an 'lfs' list")


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that raises ``httpx.ReadTimeout`` once the attempt's deadline has passed."""

    def __init__(self, inner: httpx.SyncByteStream, request: httpx.Request, t_end: float):
        self.inner, self.request, self.t_end = inner, request, t_end

    def __iter__(self):
        for chunk in self.inner:
            if time.monotonic() > self.t_end:
                raise httpx.ReadTimeout("the request's overall deadline passed", request=self.request)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class _DeadlineTransport(httpx.HTTPTransport):
    """Every request must complete, headers and body, within ``deadline_s`` of being sent."""

    def __init__(self, deadline_s: float, **kw):
        super().__init__(**kw)
        self.deadline_s = deadline_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        t_end = time.monotonic() + self.deadline_s
        resp = super().handle_request(request)
        return httpx.Response(resp.status_code, headers=resp.headers, extensions=resp.extensions, request=request,
                              stream=_DeadlineStream(resp.stream, request, t_end))


def deadline_client(deadline_s: float, timeout_s: float) -> httpx.Client:
    """An ``httpx.Client`` with an overall deadline per request; ``timeout_s`` stays the limit of each
    connect or read (a server sending a byte at a time never trips it alone)."""
    return httpx.Client(transport=_DeadlineTransport(deadline_s), timeout=timeout_s)


class OpenAIProposer:
    name = "openai"

    def __init__(self, settings, cache_dir: str | Path | None = None, sleep=time.sleep):
        from openai import OpenAI

        self.s = settings
        self.model = settings.model
        base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.client = OpenAI(api_key=os.environ.get("OPENAI_API_KEY", ""), base_url=base_url,
                             timeout=settings.timeout_s, max_retries=0,
                             http_client=deadline_client(settings.deadline_s, settings.timeout_s))
        self.cache_dir = Path(cache_dir) if cache_dir and settings.cache else None
        self.structured = settings.structured_output
        self.sleep = sleep
        self.rng = random.Random(0)  # retry jitter

    # -- one request --------------------------------------------------------------------
    def _key(self, payload: dict) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def _cost(self, usage: dict, discount: float = 1.0) -> float:
        p = self.s.prices.get(self.model)
        if not p:
            return 0.0
        return discount * (usage["prompt_tokens"] / 1e6 * p.input_per_1m
                            + usage["completion_tokens"] / 1e6 * p.output_per_1m)

    def body(self, messages: list[dict]) -> dict:
        """The chat-completions request body (live and batch alike)."""
        kw = dict(model=self.model, messages=messages, temperature=self.s.temperature,
                  max_tokens=self.s.max_output_tokens)
        if self.structured:
            kw["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "lf_proposals", "schema": PROPOSAL_SCHEMA, "strict": False}}
        return kw

    def _cached(self, cache_file: Path | None, events: list[dict]) -> str | None:
        """A cached reply that still validates; an unreadable or invalid entry is a miss (and recorded)."""
        if not cache_file or not cache_file.exists():
            return None
        try:
            content = json.loads(cache_file.read_text(encoding="utf-8"))["content"]
            parse_reply(content)
            return content
        except (OSError, ValueError, KeyError, TypeError):
            events.append({"event": "cache_unreadable", "file": cache_file.name})
            return None

    def _wait(self, attempt: int, error) -> float:
        """Exponential backoff with jitter, never shorter than the server's ``Retry-After``."""
        wait = self.s.backoff_s * (2 ** attempt)
        resp = getattr(error, "response", None)
        ra = resp.headers.get("retry-after") if resp is not None else None
        try:
            wait = max(wait, float(ra)) if ra is not None else wait
        except ValueError:
            pass
        return round(wait * (1 + 0.25 * self.rng.random()), 3)

    def request(self, messages: list[dict]) -> tuple[str | None, dict, list[dict]]:
        """(reply text or None, usage, events) for one chat request, with retries and the cache.
        Never raises for a failed request: every failure is an event, with the usage already spent."""
        import openai

        events: list[dict] = []
        usage = empty_usage()
        payload = {"model": self.model, "messages": messages, "temperature": self.s.temperature,
                   "max_tokens": self.s.max_output_tokens, "prompt_version": VERSION}
        cache_file = self.cache_dir / f"{self._key(payload)}.json" if self.cache_dir else None
        cached = self._cached(cache_file, events)
        if cached is not None:
            usage["cache_hits"] = 1
            return cached, usage, events + [{"event": "cache_hit"}]
        prompt_est = sum(estimate_tokens(m["content"]) for m in messages)
        attempt = 0
        while True:
            kw = self.body(messages)
            usage["requests"] += 1
            try:
                resp = self.client.chat.completions.create(**kw)
                content = resp.choices[0].message.content if resp.choices else None
            except openai.BadRequestError as e:
                if self.structured:
                    events.append({"event": "structured_output_unsupported", "detail": str(e)[:200]})
                    self.structured = False
                    continue
                events.append({"event": "bad_request", "detail": str(e)[:200]})
                return None, usage, events
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError) as e:
                kind = type(e).__name__
                status = getattr(e, "status_code", None)
                if attempt >= self.s.max_retries:
                    events.append({"event": "gave_up", "error": kind, "status": status, "attempts": attempt + 1})
                    return None, usage, events
                wait = self._wait(attempt, e)
                events.append({"event": "retry", "error": kind, "status": status, "wait_s": wait})
                self.sleep(wait)
                attempt += 1
                continue
            except openai.APIStatusError as e:
                events.append({"event": "http_error", "status": e.status_code, "detail": str(e)[:200]})
                return None, usage, events
            except Exception as e:  # a 200 carrying HTML, cut-off JSON, a choice without message...
                # the server may have billed the prompt: count it with the local estimate
                usage["prompt_tokens"] += prompt_est
                usage["cost_usd"] += self._cost({"prompt_tokens": prompt_est, "completion_tokens": 0})
                events.append({"event": "bad_response", "error": type(e).__name__, "detail": str(e)[:200]})
                events.append({"event": "usage_estimated", "prompt_tokens": prompt_est, "completion_tokens": 0})
                return None, usage, events
            break
        u = getattr(resp, "usage", None)
        pt, ct = (getattr(u, "prompt_tokens", None), getattr(u, "completion_tokens", None)) if u else (None, None)
        if not (isinstance(pt, int) and isinstance(ct, int) and pt >= 0 and ct >= 0):
            pt, ct = prompt_est, estimate_tokens(content or "")
            events.append({"event": "usage_estimated", "prompt_tokens": pt, "completion_tokens": ct})
        usage["prompt_tokens"] += pt
        usage["completion_tokens"] += ct
        usage["cost_usd"] += self._cost({"prompt_tokens": pt, "completion_tokens": ct})
        if content is None:
            events.append({"event": "empty_reply"})
            return None, usage, events
        if len(content) > self.s.max_reply_chars:
            events.append({"event": "oversized_reply", "chars": len(content)})
            return None, usage, events
        if cache_file:
            try:
                parse_reply(content)  # only a reply that validates is cached
            except ReplyError:
                return content, usage, events
            atomic_write_text(cache_file, json.dumps({"content": content, "model": self.model}))
        return content, usage, events

    # -- one round ----------------------------------------------------------------------
    def round_requests(self, ctx: RoundContext) -> list[tuple[list[str], list[dict]]]:
        """The round's requests: ``(tags, chat messages)`` per ``tags_per_request`` tags, worst first."""
        tags, n = list(ctx.errors), self.s.tags_per_request
        return [(tags[i:i + n], build_messages(ctx, tags[i:i + n], self.s.examples_per_tag, self.s.errors_per_tag))
                for i in range(0, len(tags), n)]

    def propose(self, ctx: RoundContext) -> Proposal:
        """One round: a request per ``tags_per_request`` tags, each sent only while the run's token and
        money budget (``ctx.budget``) has room left."""
        prop = Proposal(items=[], usage=empty_usage())
        reqs = self.round_requests(ctx)
        for i, (batch, msgs) in enumerate(reqs):
            left = ctx.budget_left(prop.usage)
            if left is not None:
                prop.events.append({"event": "budget_exhausted", "detail": left, "skipped_requests": len(reqs) - i})
                break
            content, usage, ev = self.request(msgs)
            add_reply(prop, batch, content, usage, ev)
        return prop


def estimate_tokens(text: str) -> int:
    """A local token estimate (about 4 characters per token) for replies that carry no usable usage."""
    return max(1, (len(text) + 3) // 4)


def empty_usage() -> dict:
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "cache_hits": 0}


def add_reply(prop: Proposal, tags: list[str], content: str | None, usage: dict, events: list[dict]) -> None:
    """Fold one request's reply into the round's proposal: usage summed, events tagged with the
    request's tags, the reply parsed (a malformed one is an event, never an exception)."""
    for k in prop.usage:
        prop.usage[k] += usage.get(k, 0)
    prop.events += [{**e, "tags": tags} for e in events]
    if content is None:
        return
    try:
        got = parse_reply(content)
    except ReplyError as e:
        prop.events.append({"event": "malformed_reply", "detail": str(e), "tags": tags})
        return
    prop.items += [g for g in got if isinstance(g, dict)]
    bad = sum(not isinstance(g, dict) for g in got)
    if bad:
        prop.events.append({"event": "non_object_items", "count": bad, "tags": tags})
