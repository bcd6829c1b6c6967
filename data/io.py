"""Readers for tickets, gold labels and tag lists: CSV, JSONL, Parquet and any SQLAlchemy URL.

Every reader returns raw rows plus the rows it could not even parse (malformed CSV lines,
invalid JSON, bytes that are not UTF-8); :func:`load_tickets` then validates the rest with
:func:`data.schema.normalize_tickets`. Nothing is dropped silently: each rejected row is in the
quarantine table with a reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from data.schema import IngestLimits, normalize_tickets

FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class SQLSource:
    """Tickets from a database: ``url`` is any SQLAlchemy URL (``sqlite:///path.db`` by default).

    Either ``table`` or ``query`` gives one row per ticket (``ticket_id`` and ``text`` or
    ``turns`` columns, optional ``operator_tag``, ``created_at`` and anything else as metadata).
    ``turns_query`` optionally gives the dialogue turns in long form, one row per turn with
    columns ``ticket_id, turn_index, speaker, text``; they are grouped into ordered dialogues.
    """
    url: str
    table: str | None = None
    query: str | None = None
    turns_query: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if bool(self.table) == bool(self.query):
            raise ValueError("SQL source needs exactly one of 'table' or 'query'")

    def describe(self) -> str:
        from sqlalchemy.engine import make_url
        return f"{make_url(self.url).render_as_string(hide_password=True)}:{self.table or 'query'}"


Source = str | Path | SQLSource


def file_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use one of {sorted(FILE_FORMATS)}")
    return FILE_FORMATS[suffix]


def _qrow(source: str, row: int, reason: str, detail: str, raw: str = "", ticket_id=None) -> dict:
    return {"source": source, "row": row, "ticket_id": ticket_id, "reason": reason, "detail": detail,
            "raw": raw[:500]}


def read_csv(path: Path) -> tuple[pd.DataFrame, list[dict]]:
    bad: list[dict] = []
    src = str(path)

    def on_bad(line: list[str]):
        bad.append(_qrow(src, -1, "malformed_row", f"expected the header's field count, got {len(line)} fields",
                         repr(line).encode("utf-8", "backslashreplace").decode()))
        return None

    df = pd.read_csv(path, dtype=object, keep_default_na=False, encoding="utf-8",
                     encoding_errors="surrogateescape", engine="python", on_bad_lines=on_bad)
    df["_row"] = range(2, len(df) + 2)  # 1-based, after the header line (approximate with bad lines)
    return df, bad


def read_jsonl(path: Path) -> tuple[pd.DataFrame, list[dict]]:
    rows, bad, src = [], [], str(path)
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                s = line.decode("utf-8")
            except UnicodeDecodeError as e:
                bad.append(_qrow(src, i, "non_utf8", f"line is not valid UTF-8 ({e.reason} at byte {e.start})",
                                 line[:200].decode("utf-8", "backslashreplace")))
                continue
            try:
                obj = json.loads(s)
            except json.JSONDecodeError as e:
                bad.append(_qrow(src, i, "bad_json", f"invalid JSON: {e.msg} at column {e.colno}", s))
                continue
            if not isinstance(obj, dict):
                bad.append(_qrow(src, i, "bad_json", f"expected a JSON object, got {type(obj).__name__}", s))
                continue
            obj["_row"] = i
            rows.append(obj)
    return pd.DataFrame(rows), bad


def read_parquet(path: Path) -> tuple[pd.DataFrame, list[dict]]:
    df = pd.read_parquet(path)
    df["_row"] = range(1, len(df) + 1)
    return df, []


def read_sql(src: SQLSource) -> tuple[pd.DataFrame, list[dict]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(src.url)
    try:
        with engine.connect() as conn:
            if src.table:
                df = pd.read_sql_table(src.table, conn)
            else:
                df = pd.read_sql_query(text(src.query), conn, params=src.params or None)
            turns = pd.read_sql_query(text(src.turns_query), conn, params=src.params or None) if src.turns_query else None
    finally:
        engine.dispose()
    if turns is not None:
        missing = {"ticket_id", "turn_index", "speaker", "text"} - set(turns.columns)
        if missing:
            raise ValueError(f"{src.describe()}: turns_query lacks columns {sorted(missing)}")
        turns = turns.sort_values(["ticket_id", "turn_index"], kind="stable")
        grouped = {
            tid: [{"speaker": sp, "text": tx} for sp, tx in zip(g["speaker"], g["text"])]
            for tid, g in turns.groupby("ticket_id", sort=False)
        }
        df["ticket_id"] = df["ticket_id"].astype(object)
        df["turns"] = [grouped.get(t) if t is not None else None for t in df["ticket_id"]]
        df["turns"] = df["turns"].astype(object)
    df["_row"] = range(1, len(df) + 1)
    return df, []


def read_raw(source: Source) -> tuple[pd.DataFrame, list[dict], str]:
    """Read raw rows from a file or SQL source: ``(rows, unparseable_rows, source_name)``."""
    if isinstance(source, SQLSource):
        df, bad = read_sql(source)
        return df, bad, source.describe()
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    fmt = file_format(path)
    df, bad = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}[fmt](path)
    return df, bad, str(path)


def load_tickets(source: Source, limits: IngestLimits = IngestLimits(),
                 label_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load and validate tickets: returns ``(tickets, quarantine)``."""
    df, bad, name = read_raw(source)
    if df.empty and not bad:
        raise ValueError(f"{name}: no rows")
    if df.empty:
        df = pd.DataFrame(columns=["ticket_id", "text"] + ([label_column] if label_column else []))
    return normalize_tickets(df, name, limits, label_column=label_column, pre_quarantine=bad)


def load_tags(path: str | Path) -> pd.DataFrame:
    """Read the tag list (columns ``tag``, optional ``description`` and ``fees_group``)."""
    df, bad, name = read_raw(path)
    if bad:
        raise ValueError(f"{name}: {len(bad)} unreadable rows in the tag list, first: {bad[0]['detail']}")
    if "tag" not in df.columns:
        raise ValueError(f"{name}: tag list needs a 'tag' column (columns: {list(df.columns)})")
    df = df.drop(columns=["_row"], errors="ignore")
    df["tag"] = df["tag"].astype(str).str.strip()
    if (df["tag"] == "").any():
        raise ValueError(f"{name}: empty tag name in row(s) {list(df.index[df['tag'] == ''] + 2)}")
    dup = df["tag"][df["tag"].duplicated()].tolist()
    if dup:
        raise ValueError(f"{name}: duplicate tags {dup}")
    if "description" not in df.columns:
        df["description"] = df["tag"].str.replace("_", " ")
    if "fees_group" in df.columns:
        df["fees_group"] = df["fees_group"].astype(str).str.strip().str.lower().isin(["true", "1", "yes"])
    return df.reset_index(drop=True)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV, JSONL or Parquet by the file suffix, atomically (a killed writer leaves
    the previous file, never a part)."""
    from data.atomic import atomic_path

    path = Path(path)
    fmt = file_format(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "jsonl":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(tmp, index=False)
    return path


def quarantine_summary(q: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in q["reason"].value_counts().sort_index().items()} if len(q) else {}
