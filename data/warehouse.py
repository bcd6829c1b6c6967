"""The project's workspace database and the target tags table (any SQLAlchemy URL, SQLite by default).

- :func:`ingest_sql_interval` / :func:`ingest_folder` pull new tickets incrementally (a watermark
  per source, processed files remembered by content hash), normalize and quarantine them with the
  ordinary ingest (:func:`data.io.load_tickets`), and *upsert* them: rerunning the same interval
  adds nothing twice, and quarantine rows are de-duplicated the same way.
- :func:`upsert` is the one write primitive (``INSERT .. ON CONFLICT`` on SQLite and PostgreSQL,
  delete-then-insert in one transaction elsewhere); every batch is one transaction, so a task
  killed midway leaves either all of its rows or none.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import (Boolean, Column, Float, Integer, MetaData, String, Table, Text, and_, create_engine, delete,
                        func, select)

from data.io import FILE_FORMATS, SQLSource, load_tickets
from data.schema import IngestLimits

META = MetaData()
TICKETS = Table("tickets", META,
                Column("ticket_id", String(200), primary_key=True), Column("text", Text, nullable=False),
                Column("turns", Text), Column("operator_tag", String(200)), Column("created_at", String(64)),
                Column("metadata", Text), Column("source", String(500)), Column("ingested_at", String(64)))
QUARANTINE = Table("quarantine", META,
                   Column("key", String(64), primary_key=True), Column("source", String(500)),
                   Column("row", Integer), Column("ticket_id", String(200)), Column("reason", String(64)),
                   Column("detail", Text), Column("raw", Text), Column("ingested_at", String(64)))
WATERMARKS = Table("watermarks", META, Column("source", String(500), primary_key=True),
                   Column("value", String(64)), Column("updated_at", String(64)))
FILES = Table("ingested_files", META, Column("sha256", String(64), primary_key=True),
              Column("path", Text), Column("rows", Integer), Column("quarantined", Integer),
              Column("ingested_at", String(64)))
TAGS_META = MetaData()
TAGS = Table("ticket_tags", TAGS_META,
             Column("ticket_id", String(200), primary_key=True), Column("model_version", String(64), primary_key=True),
             Column("tag", String(200), nullable=False), Column("confidence", Float, nullable=False),
             Column("needs_review", Boolean, nullable=False), Column("tagged_at", String(64), nullable=False))

_ENGINES: dict[str, object] = {}


def engine(url: str):
    if url not in _ENGINES:
        _ENGINES[url] = create_engine(url)
    return _ENGINES[url]


def init_workspace(url: str) -> None:
    META.create_all(engine(url))


def init_target(url: str) -> None:
    TAGS_META.create_all(engine(url))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def upsert(conn, table: Table, rows: list[dict], update: bool = True) -> None:
    """Insert ``rows``; on a primary-key conflict update the other columns (or keep the old row)."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        for i in range(0, len(rows), 500):
            stmt = insert(table).values(rows[i:i + 500])
            if update:
                cols = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
                stmt = stmt.on_conflict_do_update(index_elements=keys, set_=cols)
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=keys)
            conn.execute(stmt)
    else:  # portable fallback, still one transaction
        for r in rows:
            cond = and_(*[table.c[k] == r[k] for k in keys])
            exists = conn.execute(select(table.c[keys[0]]).where(cond)).first()
            if exists and not update:
                continue
            conn.execute(delete(table).where(cond))
            conn.execute(table.insert().values(**r))


def _store(url: str, tickets: pd.DataFrame, quarantine: pd.DataFrame, source: str) -> dict:
    ts = now()
    trows = [{"ticket_id": r.ticket_id, "text": r.text, "turns": r.turns, "operator_tag": r.operator_tag
              if isinstance(r.operator_tag, str) else None, "created_at": r.created_at, "metadata": r.metadata,
              "source": source, "ingested_at": ts} for r in tickets.itertuples()]
    qrows = []
    for r in quarantine.itertuples():
        # content-based key: the same bad row pulled again (another interval, another batch) is stored once
        key = hashlib.sha256(f"{r.ticket_id}|{r.reason}|{r.raw}".encode("utf-8", "replace")).hexdigest()
        qrows.append({"key": key, "source": str(r.source), "row": int(r.row), "ticket_id": None if pd.isna(r.ticket_id) else str(r.ticket_id),
                      "reason": r.reason, "detail": r.detail, "raw": r.raw, "ingested_at": ts})
    with engine(url).begin() as conn:
        before = conn.execute(select(func.count()).select_from(TICKETS)).scalar()
        upsert(conn, TICKETS, trows, update=False)
        upsert(conn, QUARANTINE, qrows, update=False)
        added = conn.execute(select(func.count()).select_from(TICKETS)).scalar() - before
    return {"rows": len(trows), "new": int(added), "quarantined": len(qrows),
            "quarantine_reasons": quarantine["reason"].value_counts().to_dict() if len(quarantine) else {}}


def ingest_sql_interval(src: SQLSource, workspace_url: str, until: str, limits: IngestLimits = IngestLimits(),
                        watermark_key: str | None = None) -> dict:
    """Pull tickets created after the source's watermark and up to ``until`` (ISO time).

    The source's queries receive ``:since`` and ``:until`` bind parameters and must filter on them.
    """
    init_workspace(workspace_url)
    key = watermark_key or src.describe()
    with engine(workspace_url).begin() as conn:
        row = conn.execute(select(WATERMARKS.c.value).where(WATERMARKS.c.source == key)).first()
    since = row[0] if row else "0000"
    src2 = SQLSource(url=src.url, table=src.table, query=src.query, turns_query=src.turns_query,
                     params={**src.params, "since": since, "until": until})
    try:
        tickets, quarantine = load_tickets(src2, limits)
    except ValueError as e:
        if "no rows" not in str(e):
            raise
        tickets, quarantine = pd.DataFrame(columns=["ticket_id", "text", "turns", "operator_tag", "created_at",
                                                    "metadata"]), pd.DataFrame(columns=["reason"])
    report = _store(workspace_url, tickets, quarantine, key)
    new_mark = max(since, until)  # the interval is done, quarantined rows included
    with engine(workspace_url).begin() as conn:
        upsert(conn, WATERMARKS, [{"source": key, "value": new_mark, "updated_at": now()}])
    return {**report, "since": since, "until": until, "watermark": new_mark}


def ingest_folder(folder: str | Path, workspace_url: str, limits: IngestLimits = IngestLimits()) -> dict:
    """Ingest every new file (by content hash) in a drop folder."""
    init_workspace(workspace_url)
    folder = Path(folder)
    total = {"files": 0, "rows": 0, "new": 0, "quarantined": 0, "skipped_files": 0}
    for p in sorted(folder.iterdir()) if folder.exists() else []:
        if p.suffix.lower() not in FILE_FORMATS:
            continue
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        with engine(workspace_url).begin() as conn:
            seen = conn.execute(select(FILES.c.sha256).where(FILES.c.sha256 == sha)).first()
        if seen:
            total["skipped_files"] += 1
            continue
        tickets, quarantine = load_tickets(p, limits)
        rep = _store(workspace_url, tickets, quarantine, str(p))
        with engine(workspace_url).begin() as conn:
            upsert(conn, FILES, [{"sha256": sha, "path": str(p), "rows": rep["rows"], "quarantined": rep["quarantined"],
                                  "ingested_at": now()}], update=False)
        total["files"] += 1
        for k in ("rows", "new", "quarantined"):
            total[k] += rep[k]
    return total


def count_rows(url: str, table: Table) -> int:
    with engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar())


def workspace_source(workspace_url: str) -> dict:
    """The config ``dataset.pool`` entry that reads the workspace's tickets back."""
    return {"url": workspace_url, "table": "tickets"}


def tickets_frame(workspace_url: str, ids: list[str] | None = None) -> pd.DataFrame:
    q = select(TICKETS.c.ticket_id, TICKETS.c.text)
    if ids is not None:
        q = q.where(TICKETS.c.ticket_id.in_(ids))
    with engine(workspace_url).connect() as conn:
        return pd.DataFrame(conn.execute(q).fetchall(), columns=["ticket_id", "text"])

