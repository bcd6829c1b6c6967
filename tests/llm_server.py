"""A local OpenAI-compatible chat-completions server for tests: real HTTP, scripted replies,
every request body recorded."""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(content: str, prompt_tokens: int = 100, completion_tokens: int = 50) -> dict:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def tag_keyword_lfs(body: dict) -> list[dict]:
    """A stand-in for an LLM's proposals: per tag in the request, one keyword LF on the longest word of
    the tag's name."""
    lfs = []
    for t in re.findall(r"### Tag: (\S+)", body["messages"][-1]["content"]):
        word = max(t.split("_"), key=len)
        lfs.append({"action": "add", "id": f"llm:{t}:{word}", "tag": t, "kind": "keyword",
                    "params": {"any": [word]}, "rationale": f"the word {word}"})
    return lfs


class Script:
    """A queue of steps; each step is ("json", obj) | ("status", code, body[, headers]) | ("sleep", s, obj)
    | ("raw", code, content_type, text) | ("dribble", s, obj) (the body a byte at a time over s seconds)
    | ("reject_schema",) (400 when response_format is present, then the next step). The last
    step repeats when the queue runs out, unless ``default`` (a function of the request) is given."""

    def __init__(self, steps=(), default=None):
        self.steps, self.default = list(steps), default
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def next(self, body: dict):
        with self.lock:
            self.requests.append(body)
            if self.steps:
                step = self.steps.pop(0) if len(self.steps) > 1 or self.default else self.steps[0]
                if step[0] == "reject_schema" and "response_format" not in body:
                    step = self.steps.pop(0) if self.steps else ("json", completion('{"lfs": []}'))
                return step
        if self.default:
            return ("json", completion(self.default(body)))
        return ("json", completion('{"lfs": []}'))


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(n) or b"{}")
        if not self.path.endswith("/chat/completions"):
            return self._send(404, {"error": {"message": "not found"}})
        step = self.server.script.next(body)
        kind = step[0]
        if kind == "json":
            return self._send(200, step[1])
        if kind == "status":  # ("status", code[, body[, headers]])
            return self._send(step[1], step[2] if len(step) > 2 else {"error": {"message": f"status {step[1]}"}},
                              step[3] if len(step) > 3 else None)
        if kind == "raw":  # ("raw", code, content type, text): HTML, cut-off JSON...
            return self._send(step[1], step[3], content_type=step[2])
        if kind == "sleep":
            time.sleep(step[1])
            return self._send(200, step[2])
        if kind == "dribble":  # ("dribble", seconds, obj): the body one byte at a time over ``seconds``
            data = json.dumps(step[2]).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(step[1] / len(data))
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if kind == "reject_schema":
            return self._send(400, {"error": {"message": "response_format json_schema is not supported",
                                              "type": "invalid_request_error"}})
        raise AssertionError(step)

    def _send(self, code, obj, headers=None, content_type="application/json"):
        data = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


class LLMServer:
    def __init__(self, script: Script):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.script = script
        self.script = script
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
