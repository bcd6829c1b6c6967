"""Readers for tickets, gold labels and tag lists: CSV, JSONL, Parquet and any SQLAlchemy URL.

Every reader returns raw rows plus the rows it could not even parse (malformed CSV lines,
invalid JSON, bytes that are not UTF-8); :func:`load_tickets` then validates the rest with
:func:`data.schema.normalize_tickets`. Nothing is dropped silently: each rejected row is in the
quarantine table with a reason.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from data.schema import RAW_LIMIT, IngestLimits, normalize_tickets

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


class ReaderError(ValueError):
    """A file or database that cannot be read at all; the message starts with its name."""


def _qrow(source: str, row: int, reason: str, detail: str, raw: str = "", ticket_id=None) -> dict:
    # raw is cut (and PII-masked) to RAW_LIMIT by data.schema.normalize_tickets; keep enough to cut safely
    return {"source": source, "row": row, "ticket_id": ticket_id, "reason": reason, "detail": detail,
            "raw": raw[:4 * RAW_LIMIT + 1]}


# Python's csv module refuses fields over 131,072 characters, and pandas' python engine then drops the
# row without a word; the limit is lifted while a CSV is read, so an oversized ticket reaches validation
# (and is quarantined as ``oversized``) like in any other format.
_CSV_FIELD_LIMIT = 2**31 - 1


@contextlib.contextmanager
def _csv_field_limit(limit: int = _CSV_FIELD_LIMIT) -> Iterator[None]:
    old = csv.field_size_limit()
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def read_csv(path: Path) -> tuple[pd.DataFrame, list[dict]]:
    """Read a CSV with Python's csv module, every value a string (``""`` for an empty field).

    ``_row`` is the line a record starts on (the header is line 1). A record with more fields than the
    header, or a quote left open to the end of the file, is quarantined as ``malformed_row``; one with
    fewer fields is padded with empty values (as pandas does). No record is dropped: pandas' reader
    lost rows with a field over 131,072 characters, and everything after a quote left open."""
    src = str(path)
    if path.stat().st_size == 0:
        raise ReaderError(f"{path}: empty file (0 bytes); a CSV needs at least a header line")
    text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
    with _csv_field_limit():
        reader = csv.reader(io.StringIO(text, newline=""))
        parsed: list[tuple[int, list[str]]] = []  # (first line, fields) of every non-blank record
        last_line = 0
        for fields in reader:
            if fields:
                parsed.append((last_line + 1, fields))
            last_line = reader.line_num
    if not parsed:
        raise ReaderError(f"{path}: no header line (the file has only blank lines)")
    header = _header_names(parsed[0][1])
    n = len(header)
    bad: list[dict] = []
    records: list[list[str | None]] = []
    row_numbers: list[int] = []
    # a quote left open swallows the rest of the file into the last record's last field (the csv module
    # does not complain); quotes then do not pair up
    open_quote = text.count('"') % 2 == 1
    for k, (start, fields) in enumerate(parsed[1:], start=2):
        unclosed = open_quote and k == len(parsed) and ("\n" in fields[-1] or "\r" in fields[-1])
        if len(fields) > n or unclosed:
            detail = (f"expected the header's {n} fields, got {len(fields)}" if len(fields) > n else
                      f"a quoted field opened on line {start} is never closed (it runs to the end of the file)")
            bad.append(_qrow(src, start, "malformed_row", detail,
                             repr(fields[:50]).encode("utf-8", "backslashreplace").decode()))
            continue
        records.append(fields + [None] * (n - len(fields)))
        row_numbers.append(start)
    df = pd.DataFrame(records, columns=header, dtype=object)
    df["_row"] = row_numbers
    return df, bad


def _header_names(fields: list[str]) -> list[str]:
    """Column names as pandas gives them: blanks become ``Unnamed: i``, repeats ``name.1``, ``name.2``."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, f in enumerate(fields):
        name = f.strip() or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


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
    if path.stat().st_size == 0:
        raise ReaderError(f"{path}: empty file (0 bytes), not a Parquet file")
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
            raise ReaderError(f"{src.describe()}: turns_query lacks columns {sorted(missing)}")
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
        name = source.describe()
        try:
            df, bad = read_sql(source)
        except ReaderError:
            raise
        except Exception as e:  # a bad URL, table or query: name the source
            raise ReaderError(f"{name}: cannot read ({type(e).__name__}: {_first_line(e)})") from e
        return df, bad, name
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    fmt = file_format(path)
    try:
        df, bad = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}[fmt](path)
    except ReaderError:
        raise
    except Exception as e:  # every parser error names the file it came from
        raise ReaderError(f"{path}: cannot read as {fmt.upper()} ({type(e).__name__}: {_first_line(e)})") from e
    return df, bad, str(path)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no message"


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


def write_table(df: pd.DataFrame, path: str | Path, bom: bool = False) -> Path:
    """Write a DataFrame as CSV, JSONL or Parquet by the file suffix, atomically (a killed writer leaves
    the previous file, never a part). Text is UTF-8; ``bom`` starts a CSV with a byte-order mark, so that
    Excel opens Cyrillic text correctly."""
    from data.atomic import atomic_path

    path = Path(path)
    fmt = file_format(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False, encoding="utf-8-sig" if bom else "utf-8")
        elif fmt == "jsonl":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(tmp, index=False)
    return path


def quarantine_summary(q: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in q["reason"].value_counts().sort_index().items()} if len(q) else {}
