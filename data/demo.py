"""Seeded generator of bank support dialogues: the project's own demo data.

It writes a small "support system" SQLite database (``conversations`` and ``messages``
tables, as a ticketing tool would export them) plus a gold dev set, a gold test set and a tag
list in the Banking77 benchmark format, so the demo runs the SQL ingest path on a fresh
machine with no external data.

The data is meant to be hard enough to be honest (the language packs hold the wording:
``data/demo_en.py``, ``data/demo_ru.py``). In English: 12 tags in confusable families whose wording
shares vocabulary; direct, indirect (no obvious keyword) and vague openings, the vague ones followed
by the reason in a later customer turn, sometimes after small talk and an identity check; passing
mentions of a neighbouring tag's topic; operator boilerplate (welcome, verification, holding lines,
"anything else?") in every tag; typos, texting shortcuts and casing; PII inside turns (Luhn-valid card
numbers, phone numbers, e-mails, IBANs); operator tags about 80% accurate (``operator_accuracy``), 5%
missing, whose errors go mostly to the confusable tags and are systematic on four tags (about a third of
their tickets filed under one neighbour); and a few deliberately bad rows (duplicate id, empty
dialogue, oversized dialogue, missing id) that the ingest must quarantine.
"""
from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from data import demo_en
from data.demo_en import luhn_card  # noqa: F401  (part of this module's API: the language packs use it)

TAGS = demo_en.TAGS


def _typo(rng: random.Random, s: str, p: float = 0.08) -> str:
    if rng.random() > p or len(s) < 8:
        return s
    i = rng.randrange(1, len(s) - 1)
    return s[:i] + s[i + 1:] if rng.random() < 0.5 else s[:i] + s[i + 1] + s[i] + s[i + 2:]


def _casing(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.15:
        return s.lower()
    if r < 0.2:
        return s.upper()
    return s[:1].upper() + s[1:]


@dataclass(frozen=True)
class LanguagePack:
    """What a demo language brings: its tags (description, fees flag, confusable tags, openings,
    follow-ups, operator answers), the phrases around them and the slot filler (PII included).

    The fields after ``slots`` are optional; a pack that sets ``vague`` gets the richer dialogues of
    :func:`make_dialogue` (per tag: ``indirect``, ``vague``, ``detail``, ``aside`` phrases; operator
    boilerplate; word typos and ``slang``), one without them the simple ones."""
    tags: dict[str, dict]
    generic_openers: list[str]
    greetings: list[str]
    closings: list[str]
    op_open: list[str]
    op_ask: list[str]
    op_how: list[str]
    replies: list[str]
    slots: Callable[[random.Random], dict[str, str]]
    vague: dict[str, list[str]] = field(default_factory=dict)
    aside_lead: list[str] = field(default_factory=list)
    op_welcome: list[str] = field(default_factory=list)
    op_verify: list[str] = field(default_factory=list)
    verify_replies: list[str] = field(default_factory=list)
    op_clarify: list[str] = field(default_factory=list)
    op_hold: list[str] = field(default_factory=list)
    op_wrap: list[str] = field(default_factory=list)
    cust_bye: list[str] = field(default_factory=list)
    op_bye: list[str] = field(default_factory=list)
    slang: dict[str, str] = field(default_factory=dict)


EN = LanguagePack(**demo_en.PACK)


def pack(lang: str) -> LanguagePack:
    if lang == "en":
        return EN
    if lang == "ru":
        from data.demo_ru import RU

        return RU
    raise ValueError(f"demo language must be 'en' or 'ru', not {lang!r}")


def _words_typos(rng: random.Random, template: str, lang: LanguagePack, p: float = 0.05) -> str:
    """Customer-style noise on a template, before its ``{slots}`` are filled (so PII stays well formed):
    texting shortcuts, and per word a dropped, swapped or doubled letter."""
    out = []
    for token in template.split(" "):
        w = token.rstrip(",.?!")
        if "{" in w or not w.isalpha():
            out.append(token)
            continue
        if w.lower() in lang.slang and rng.random() < 0.25:
            w = lang.slang[w.lower()]
        elif len(w) >= 4 and rng.random() < p:
            i = rng.randrange(1, len(w) - 1)
            w = rng.choice([w[:i] + w[i + 1:], w[:i] + w[i + 1] + w[i] + w[i + 2:], w[:i] + w[i] + w[i:]])
        out.append(w + token[len(token.rstrip(",.?!")):])
    return " ".join(out)


# how often each part of a rich dialogue appears (probabilities; follow_ups: drawn from the list)
SHAPE = {"welcome": 0.35, "small_talk": 0.25, "aside": 0.2, "vague": 0.3, "indirect": 0.25, "follow_ups": [0, 1, 1, 2],
         "answer": 0.45, "hold": 0.3, "closing": 0.3}


def make_dialogue(rng: random.Random, tag: str, lang: LanguagePack = EN) -> list[dict]:
    """One seeded support dialogue of ``tag``: ``[{"speaker", "text"}, ...]``."""
    if not lang.vague:
        return _simple_dialogue(rng, tag, lang)
    spec, sl = lang.tags[tag], lang.slots(rng)
    turns: list[dict] = []

    def say(speaker: str, template: str) -> None:
        if speaker == "customer":
            template = _words_typos(rng, template, lang)
        text = template.format(**sl)
        turns.append({"speaker": speaker, "text": _casing(rng, text) if speaker == "customer" else text})

    if rng.random() < SHAPE["welcome"]:  # the chat tool's welcome line
        say("operator", rng.choice(lang.op_welcome))
    greeting = rng.choice(lang.greetings)
    if rng.random() < SHAPE["small_talk"]:  # small talk and an identity check before the customer says why they came
        greeting = ""
        say("customer", rng.choice(lang.generic_openers))
        say("operator", rng.choice(lang.op_verify))
        say("customer", rng.choice(lang.verify_replies))
        say("operator", rng.choice(lang.op_how))
    aside = ""
    if rng.random() < SHAPE["aside"]:  # a passing mention of another tag's topic, not the request
        other = rng.choice([t for t in lang.tags if t != tag])
        aside = rng.choice([", ", ". "]) + rng.choice(lang.aside_lead) + rng.choice(lang.tags[other]["aside"])
    n_follow = rng.choice(SHAPE["follow_ups"])
    r = rng.random()
    if r < SHAPE["vague"]:  # a vague opening: the reason comes in a later turn
        say("customer", greeting + rng.choice(lang.vague[rng.choice(spec["vague"])]))
        say("operator", rng.choice(lang.op_clarify))
        say("customer", rng.choice(spec["detail"]) + (aside if not n_follow else ""))
    else:
        phrases = spec["indirect"] if r < SHAPE["vague"] + SHAPE["indirect"] else spec["open"]
        say("customer", greeting + rng.choice(phrases) + (aside if not n_follow else rng.choice(lang.closings)))
    for k in range(n_follow):
        say("operator", rng.choice(lang.op_open) + " " + rng.choice(lang.op_ask))
        say("customer", rng.choice(spec["follow"] + lang.replies) + (aside if k == 0 else ""))
    r = rng.random()
    if r < SHAPE["answer"]:
        say("operator", rng.choice(spec["op"]))
    elif r < SHAPE["answer"] + SHAPE["hold"]:
        say("operator", rng.choice(lang.op_hold))
    if rng.random() < SHAPE["closing"]:  # the closing boilerplate
        say("operator", rng.choice(lang.op_wrap))
        say("customer", rng.choice(lang.cust_bye))
        say("operator", rng.choice(lang.op_bye))
    return turns


def _simple_dialogue(rng: random.Random, tag: str, lang: LanguagePack) -> list[dict]:
    """The dialogues of a pack without the rich phrase tables (the Russian one): an opening, follow-ups,
    maybe an operator answer."""
    spec = lang.tags[tag]
    sl = lang.slots(rng)
    opening = rng.choice(lang.greetings) + rng.choice(spec["open"]).format(**sl) + rng.choice(lang.closings)
    turns = []
    if rng.random() < 0.3:  # the request comes only after a generic opener and the operator's question
        turns.append({"speaker": "customer", "text": _casing(rng, rng.choice(lang.generic_openers))})
        turns.append({"speaker": "operator", "text": rng.choice(lang.op_how)})
    turns.append({"speaker": "customer", "text": _casing(rng, _typo(rng, opening))})
    n_extra = rng.choice([1, 2, 2, 3])
    for k in range(n_extra):
        if k == 0 or rng.random() < 0.5:
            turns.append({"speaker": "operator", "text": rng.choice(lang.op_open) + " " + rng.choice(lang.op_ask)})
        reply = rng.choice(spec["follow"] + lang.replies).format(**sl)
        turns.append({"speaker": "customer", "text": _casing(rng, _typo(rng, reply))})
    if rng.random() < 0.7:
        turns.append({"speaker": "operator", "text": rng.choice(spec["op"]).format(**sl)})
    return turns


def _operator_tag(rng: random.Random, tag: str, accuracy: float, tags: dict[str, dict] = TAGS) -> str | None:
    """The operator's tag of a ``tag`` ticket: None 5% of the time, else right with probability ``accuracy``
    on average over the tags. A tag's ``op_err`` scales its error rate (mean 1 over the tags), and its
    errors go to ``mistag`` (85%) when it has one, else mostly (70%) to a confusable tag."""
    r = rng.random()
    if r < 0.05:
        return None
    spec = tags[tag]
    if any("op_err" in s for s in tags.values()):
        mean = sum(s.get("op_err", 1.0) for s in tags.values()) / len(tags)
        if rng.random() >= min(0.95, (1 - accuracy) * spec.get("op_err", 1.0) / mean):
            return tag
        if spec.get("mistag") and rng.random() < 0.85:
            return spec["mistag"]
    elif r < 0.05 + accuracy * 0.95:
        return tag
    if rng.random() < 0.7:
        return rng.choice(spec["confusable"])
    return rng.choice([t for t in tags if t != tag])


def generate_demo(out_dir: str | Path, n_pool: int = 2400, n_test_per_tag: int = 40, n_dev_per_tag: int = 10,
                  operator_accuracy: float = 0.8, seed: int = 7, bad_rows: bool = True, lang: str = "en") -> dict[str, Path]:
    """Write ``support.db``, ``gold_dev.jsonl``, ``gold_test.jsonl`` and ``tags.csv`` under ``out_dir``, in
    English (``lang="en"``, retail-bank tags) or Russian (``"ru"``, small-business bank tags, Russian PII)."""
    lp = pack(lang)
    if n_pool < len(lp.tags) * n_dev_per_tag:
        raise ValueError(f"n_pool={n_pool} is too small for {n_dev_per_tag} gold_dev tickets per tag "
                         f"({len(lp.tags)} tags): need at least {len(lp.tags) * n_dev_per_tag}")
    rng = random.Random(seed)
    # rich packs draw operator tags from their own stream, so the dialogues do not depend on the noise settings
    op_rng = random.Random(f"operator-tags-{seed}") if lp.vague else rng
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tags = list(lp.tags)
    start = datetime(2026, 1, 1, 8, 0, 0)
    conversations, messages, truth = [], [], {}
    for i in range(n_pool):
        tag = tags[i % len(tags)] if i < len(tags) * n_dev_per_tag else rng.choice(tags)
        cid = f"conv-{i:06d}"
        opened = start + timedelta(minutes=17 * i + rng.randint(0, 16))
        conversations.append((cid, opened.isoformat(), rng.choice(["chat", "email", "app"]),
                              _operator_tag(op_rng, tag, operator_accuracy, lp.tags),
                              rng.choice(["retail", "premium", "business"])))
        for seq, t in enumerate(make_dialogue(rng, tag, lp)):
            messages.append((cid, seq, t["speaker"], t["text"], (opened + timedelta(minutes=2 * seq)).isoformat()))
        truth[cid] = tag
    if bad_rows:
        last = start + timedelta(minutes=17 * n_pool)
        conversations.append((conversations[3][0], last.isoformat(), "chat", None, "retail"))  # duplicate id
        fee_tag = next(t for t in tags if lp.tags[t]["fees"])
        conversations.append(("conv-empty", last.isoformat(), "chat", fee_tag, "retail"))  # no messages
        conversations.append(("conv-huge", last.isoformat(), "email", fee_tag, "retail"))
        messages.append(("conv-huge", 0, "customer", lp.tags[fee_tag]["open"][0].format(**lp.slots(random.Random(0)))
                         + " " + "blah " * 6000, last.isoformat()))
        conversations.append((None, last.isoformat(), "chat", tags[2], "retail"))  # missing id
    db = out / "support.db"
    if db.exists():
        db.unlink()
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE conversations (conversation_id TEXT, opened_at TEXT, channel TEXT, operator_tag TEXT,"
        " customer_segment TEXT);"
        "CREATE TABLE messages (conversation_id TEXT, seq INTEGER, sender TEXT, body TEXT, sent_at TEXT);")
    con.executemany("INSERT INTO conversations VALUES (?,?,?,?,?)", conversations)
    con.executemany("INSERT INTO messages VALUES (?,?,?,?,?)", messages)
    con.commit()
    con.close()

    # gold dev: the first n_dev_per_tag pool tickets of each tag (they were generated round-robin)
    dev_ids = [f"conv-{i:06d}" for i in range(len(tags) * n_dev_per_tag)]
    msg_df = pd.DataFrame(messages, columns=["cid", "seq", "speaker", "text", "sent_at"])
    turns_by = {c: [{"speaker": s, "text": t} for s, t in zip(g["speaker"], g["text"])]
                for c, g in msg_df.groupby("cid", sort=False)}
    gold_dev = pd.DataFrame({"ticket_id": dev_ids, "turns": [json.dumps(turns_by[c], ensure_ascii=lang == "en") for c in dev_ids],
                             "tag": [truth[c] for c in dev_ids]})
    test_rows = []
    for k in range(n_test_per_tag):
        for tag in tags:
            test_rows.append({"ticket_id": f"test-{len(test_rows):06d}",
                              "turns": json.dumps(make_dialogue(rng, tag, lp), ensure_ascii=lang == "en"), "tag": tag})
    gold_test = pd.DataFrame(test_rows)
    paths = {"db": db, "gold_dev": out / "gold_dev.jsonl", "gold_test": out / "gold_test.jsonl",
             "tags": out / "tags.csv"}
    gold_dev.to_json(paths["gold_dev"], orient="records", lines=True, force_ascii=False)
    gold_test.to_json(paths["gold_test"], orient="records", lines=True, force_ascii=False)
    pd.DataFrame({"tag": tags, "description": [lp.tags[t]["description"] for t in tags],
                  "fees_group": [lp.tags[t]["fees"] for t in tags]}).to_csv(paths["tags"], index=False)
    return paths


DEMO_TICKETS_QUERY = ("SELECT conversation_id AS ticket_id, opened_at AS created_at, channel, operator_tag, "
                      "customer_segment FROM conversations")
DEMO_TURNS_QUERY = ("SELECT conversation_id AS ticket_id, seq AS turn_index, sender AS speaker, body AS text "
                    "FROM messages")
