"""The ticket schema, dialogue rendering and row validation with quarantine.

A normalized ticket table has the columns :data:`TICKET_COLUMNS`:

``ticket_id`` (str, unique), ``text`` (the model text, see :func:`render_dialogue`),
``turns`` (JSON list of ``{"speaker", "text"}`` or ``None`` for plain-text tickets),
``operator_tag`` (str or ``None``), ``created_at`` (ISO string or ``None``),
``metadata`` (JSON object of every other column).

Model text of a dialogue is one line per turn, in order, ``"customer: ..."`` / ``"operator: ..."``,
joined with newlines; PII is masked (:func:`data.pii.mask_pii`) when ``mask_pii`` is on.
Plain-text tickets are used as they are (masked likewise).

With ``mask_pii`` on nothing personal leaves this module unmasked: the model text, every turn's text,
every string (and PII-looking integer) in ``metadata``, and a quarantined row's ``raw`` excerpt (and
the speaker a ``bad_turns`` detail quotes) are all masked here, before any caller stores them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from data.pii import mask_pii as _mask
from data.pii import mask_value

SPEAKERS = ("customer", "operator")
TICKET_COLUMNS = ["ticket_id", "text", "turns", "operator_tag", "created_at", "metadata"]
QUARANTINE_COLUMNS = ["source", "row", "ticket_id", "reason", "detail", "raw"]
RAW_LIMIT = 500  # characters of a quarantined row kept in its ``raw`` field
# characters no PII pattern spans: an excerpt cut just after one never ends in half a card or e-mail
_SAFE_CUT = "'\"\\;|!?=:,*&$/"
_KNOWN = {"ticket_id", "text", "turns", "operator_tag", "created_at", "tag", "metadata"}


@dataclass(frozen=True)
class IngestLimits:
    max_chars: int = 20000
    max_turns: int = 200
    mask_pii: bool = True
    speakers: tuple[str, ...] = SPEAKERS


def render_dialogue(turns: Iterable[dict], speakers: Iterable[str] = SPEAKERS) -> str:
    """Render ordered turns as ``speaker: text`` lines (only the given speakers)."""
    keep = set(speakers)
    return "\n".join(f"{t['speaker']}: {t['text'].strip()}" for t in turns if t["speaker"] in keep)


def one_line(text: str, limit: int) -> str:
    """A ticket's text on one line (turns joined by `` | ``), cut to ``limit`` characters for display."""
    text = " | ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit] + "..."


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, str) and v.strip() == ""


def _present(v: Any) -> bool:
    if isinstance(v, (list, tuple)) or (hasattr(v, "tolist") and not isinstance(v, str)):
        return True
    return not _is_missing(v)


def _has_surrogates(s: str) -> bool:
    # bytes that were not valid UTF-8 are decoded with 'surrogateescape' into U+DC80..U+DCFF
    return any("\udc80" <= ch <= "\udcff" for ch in s)


def _clean_str(v: Any) -> str | None:
    if _is_missing(v):
        return None
    return str(v).strip()


class RowError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _parse_turns(v: Any, max_turns: int, mask: bool = False) -> list[dict]:
    if isinstance(v, str):
        if _has_surrogates(v):
            raise RowError("non_utf8", "turns contain bytes that are not valid UTF-8")
        try:
            v = json.loads(v)
        except json.JSONDecodeError as e:
            raise RowError("bad_turns", f"turns is not valid JSON ({e.msg})") from None
    if hasattr(v, "tolist"):
        v = v.tolist()
    if not isinstance(v, list) or not v:
        raise RowError("bad_turns", "turns must be a non-empty list of {speaker, text}")
    if len(v) > max_turns:
        raise RowError("oversized", f"{len(v)} turns > max_turns={max_turns}")
    out = []
    for i, t in enumerate(v):
        if not isinstance(t, dict) or "speaker" not in t or "text" not in t:
            raise RowError("bad_turns", f"turn {i} must be an object with speaker and text")
        sp = str(t["speaker"]).strip().lower()
        if sp not in SPEAKERS:
            speaker = str(t["speaker"])  # the one input value a detail quotes: masked like the text
            speaker = (_mask(speaker) if mask else speaker)[:100]
            raise RowError("bad_turns", f"turn {i} speaker {speaker!r} is not one of {SPEAKERS}")
        if not isinstance(t["text"], str):
            raise RowError("non_text", f"turn {i} text is {type(t['text']).__name__}, not text")
        if _has_surrogates(t["text"]):
            raise RowError("non_utf8", f"turn {i} text is not valid UTF-8")
        if t["text"].strip():
            out.append({"speaker": sp, "text": t["text"]})
    if not out:
        raise RowError("empty_text", "every turn is empty")
    return out


def _json_default(o: Any):
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def normalize_tickets(
    raw: pd.DataFrame,
    source: str,
    limits: IngestLimits = IngestLimits(),
    label_column: str | None = None,
    pre_quarantine: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate raw rows into the ticket schema.

    Returns ``(tickets, quarantine)``. Every input row ends up in exactly one of them; a
    quarantined row carries ``reason`` (``missing_id``, ``duplicate_id``, ``empty_text``,
    ``non_text``, ``non_utf8``, ``bad_turns``, ``oversized``, ``missing_label`` ...) and ``detail``.
    ``label_column`` (e.g. ``"tag"`` for gold files) is kept as a column and must be present.
    """
    if "ticket_id" not in raw.columns:
        raise ValueError(f"{source}: no 'ticket_id' column (columns: {list(raw.columns)})")
    if "text" not in raw.columns and "turns" not in raw.columns:
        raise ValueError(f"{source}: needs a 'text' or a 'turns' column (columns: {list(raw.columns)})")
    if label_column and label_column not in raw.columns:
        raise ValueError(f"{source}: no '{label_column}' column (columns: {list(raw.columns)})")

    extra_cols = [c for c in raw.columns if c not in _KNOWN and not str(c).startswith("_")]
    good: list[dict] = []
    bad: list[dict] = list(pre_quarantine or [])
    seen: set[str] = set()
    records = raw.to_dict("records")
    row_numbers = raw["_row"].tolist() if "_row" in raw.columns else range(1, len(raw) + 1)
    for rownum, rec in zip(row_numbers, records):
        tid = _clean_str(rec.get("ticket_id"))
        try:
            if tid is None:
                raise RowError("missing_id", "ticket_id is empty")
            if _has_surrogates(tid):
                raise RowError("non_utf8", "ticket_id is not valid UTF-8")
            if tid in seen:
                raise RowError("duplicate_id", f"ticket_id {tid!r} already seen earlier in {source}")
            turns_v = rec.get("turns")
            turns = None
            if _present(turns_v):
                turns = _parse_turns(turns_v, limits.max_turns, limits.mask_pii)
                text = render_dialogue(turns, limits.speakers)
            else:
                text_v = rec.get("text")
                if _is_missing(text_v):
                    raise RowError("empty_text", "text and turns are both empty")
                if not isinstance(text_v, str):
                    raise RowError("non_text", f"text is {type(text_v).__name__}, not text")
                if _has_surrogates(text_v):
                    raise RowError("non_utf8", "text is not valid UTF-8")
                text = text_v.strip()
            if not text:
                raise RowError("empty_text", "no text for the configured speakers")
            if len(text) > limits.max_chars:
                raise RowError("oversized", f"{len(text)} chars > max_chars={limits.max_chars}")
            label = None
            if label_column:
                label = _clean_str(rec.get(label_column))
                if label is None:
                    raise RowError("missing_label", f"'{label_column}' is empty")
            op = _clean_str(rec.get("operator_tag"))
            if op is not None and _has_surrogates(op):
                raise RowError("non_utf8", "operator_tag is not valid UTF-8")
        except RowError as e:
            bad.append({"source": source, "row": int(rownum), "ticket_id": tid, "reason": e.reason,
                        "detail": e.detail, "raw": _raw_repr(rec)})
            continue
        seen.add(tid)
        meta = _metadata_of(rec.get("metadata"))
        meta.update({c: rec[c] for c in extra_cols if not _is_missing(rec.get(c))})
        if limits.mask_pii:
            meta = mask_metadata(meta)
            turns = mask_turns(turns)
        created = rec.get("created_at")
        row = {
            "ticket_id": tid,
            "text": _mask(text) if limits.mask_pii else text,
            "turns": json.dumps(turns, ensure_ascii=False) if turns is not None else None,
            "operator_tag": op,
            "created_at": None if _is_missing(created) else str(created),
            "metadata": json.dumps(meta, ensure_ascii=False, default=_json_default, sort_keys=True),
        }
        if label_column:
            row[label_column] = label
        good.append(row)
    cols = TICKET_COLUMNS + ([label_column] if label_column else [])
    tickets = pd.DataFrame(good, columns=cols)
    quarantine = pd.DataFrame([_finish_quarantine_row(q, limits.mask_pii) for q in bad], columns=QUARANTINE_COLUMNS)
    return tickets, quarantine


def mask_turns(turns: list[dict] | None) -> list[dict] | None:
    """The turns with every text PII-masked (speakers unchanged)."""
    return None if turns is None else [{**t, "text": _mask(t["text"])} for t in turns]


def mask_metadata(meta: dict) -> dict:
    """``meta`` with every string value (nested ones too) and every PII-looking integer masked.
    Values that are not JSON-native (timestamps, arrays) are masked in their stored string form."""
    out = {}
    for k, v in meta.items():
        if not isinstance(v, (str, int, float, bool, dict, list, tuple)) and v is not None:
            v = _json_default(v)
        out[k] = mask_value(v)
    return out


def quarantine_excerpt(raw: str, mask: bool, limit: int = RAW_LIMIT) -> str:
    """A quarantined row's ``raw`` field: at most ``limit`` characters (then ``...``), PII masked first
    when ``mask`` is on. A long row is cut before masking just after a character no PII spans (a
    quote, ``;``, ``\\`` ...), so the excerpt never keeps the unmasked start of a card or e-mail, and
    masking costs O(limit) whatever the row's size."""
    raw = "" if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw)
    if not mask:
        return raw if len(raw) <= limit else raw[:limit] + "..."
    cut = len(raw) > 4 * limit
    if cut:
        head = raw[:4 * limit]
        raw = head[:max(head.rfind(c) for c in _SAFE_CUT) + 1]
    text = _mask(raw)
    return text[:limit] + "..." if cut or len(text) > limit else text


def _finish_quarantine_row(q: dict, mask: bool) -> dict:
    """A quarantine row as stored: ``raw`` cut (and masked when masking is on). ``detail`` names the
    source and the problem; the only input value it can quote, a bad speaker, is masked where it is made."""
    return {**q, "raw": quarantine_excerpt(q.get("raw"), mask)}


def _metadata_of(v: Any) -> dict:
    """A ``metadata`` column (JSON object or dict, e.g. read back from the workspace) as a dict."""
    if isinstance(v, dict):
        return dict(v)
    if isinstance(v, str) and v.strip().startswith("{"):
        try:
            d = json.loads(v)
            return d if isinstance(d, dict) else {}
        except json.JSONDecodeError:
            return {"metadata": v}
    return {} if _is_missing(v) else {"metadata": v}


def _raw_repr(rec: dict) -> str:
    """The row as text for the quarantine, at most ``4 * RAW_LIMIT + 1`` characters (see
    :func:`quarantine_excerpt`, which cuts and masks it); one huge field is cut before ``repr``."""
    cap = 4 * RAW_LIMIT + 1
    short = {k: (v[:cap] if isinstance(v, str) else v) for k, v in rec.items() if k != "_row"}
    s = repr(short)
    s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s[:cap]
