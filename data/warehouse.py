"""The project's workspace database and the target tags table (any SQLAlchemy URL, SQLite by default).

- :func:`ingest_sql_interval` / :func:`ingest_folder` pull new tickets incrementally (a watermark
  per source, processed files remembered by content hash), normalize and quarantine them with the
  ordinary ingest (:func:`data.io.load_tickets`), and *upsert* them: rerunning the same interval
  adds nothing twice, and quarantine rows are de-duplicated the same way.
- :func:`upsert` is the one write primitive (``INSERT .. ON CONFLICT`` on SQLite and PostgreSQL,
  delete-then-insert in one transaction elsewhere); every batch is one transaction, so a task
  killed midway leaves either all of its rows or none.
- A ticket pulled again with changed content (text, turns, operator tag, creation time or metadata)
  is *updated* in place and counted as ``updated``; an unchanged one is left alone, and so is one
  that the same batch carries twice (its second copy is quarantined as ``duplicate_id``). When its text
  changed, its rows in the tags table are stale: :func:`mark_tags_stale` moves them to
  ``ticket_tags_stale`` (kept, with the time they went stale), so batch tagging
  (:func:`tagger.batch.untagged_ids`) sees the ticket as untagged and tags its new text. The tags
  table is looked for in ``target_url`` (default: the workspace database, where the Airflow set-up
  keeps it).
- What is stored is what :func:`data.io.load_tickets` returns: with ``mask_pii`` on (the default)
  the text, turns, metadata and quarantined rows are PII-masked before they reach the database.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import (Boolean, Column, Float, Integer, MetaData, String, Table, Text, and_, create_engine, delete,
                        func, inspect, select)

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
# tags whose ticket text changed after they were written (see mark_tags_stale)
STALE_TAGS = Table("ticket_tags_stale", TAGS_META,
                   Column("ticket_id", String(200), primary_key=True),
                   Column("model_version", String(64), primary_key=True),
                   Column("tagged_at", String(64), primary_key=True),
                   Column("tag", String(200), nullable=False), Column("confidence", Float, nullable=False),
                   Column("needs_review", Boolean, nullable=False), Column("stale_at", String(64), nullable=False))
# one row per drift-watch window (tagger/drift.py); a rerun for the same window and model replaces its row
DRIFT_STATS = ("tickets", "abstain_rate", "conflict_rate", "uncovered_by_rules", "needs_review_share",
               "mean_confidence", "tag_mix_psi", "tag_mix_chi2_p", "confidence_ks", "confidence_ks_p", "domain_auc", "lfs_compared",
               "lfs_shifted", "lf_shift_share")
DRIFT_REPORTS = Table("drift_reports", TAGS_META,
                      Column("window_start", String(32), primary_key=True),
                      Column("reference_start", String(32), primary_key=True),
                      Column("window", String(16), primary_key=True),
                      Column("model_version", String(64), primary_key=True),
                      *[Column(c, Float) for c in DRIFT_STATS],
                      Column("alert", Boolean, nullable=False), Column("alerts", Text), Column("top_shifted", Text),
                      Column("computed_at", String(64), nullable=False))
_CONTENT = ("text", "turns", "operator_tag", "created_at", "metadata")  # what makes a re-sent ticket an update

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


def _existing(conn, ids: list[str]) -> dict[str, tuple]:
    """The stored content (``_CONTENT`` columns) of those of ``ids`` already in the workspace."""
    cols = [TICKETS.c.ticket_id] + [TICKETS.c[c] for c in _CONTENT]
    out: dict[str, tuple] = {}
    for i in range(0, len(ids), 500):
        for r in conn.execute(select(*cols).where(TICKETS.c.ticket_id.in_(ids[i:i + 500]))):
            out[r[0]] = tuple(r[1:])
    return out


def mark_tags_stale(target_url: str, ticket_ids: list[str]) -> int:
    """Move the tags of ``ticket_ids`` (every model version) from ``ticket_tags`` to ``ticket_tags_stale``,
    in one transaction; batch tagging then re-tags those tickets. Returns the number of tag rows moved
    (0 when the database has no tags table yet)."""
    if not ticket_ids:
        return 0
    eng = engine(target_url)
    if not inspect(eng).has_table(TAGS.name):
        return 0
    init_target(target_url)  # the stale table, next to an existing tags table
    ts, moved = now(), 0
    with eng.begin() as conn:
        for i in range(0, len(ticket_ids), 500):
            chunk = ticket_ids[i:i + 500]
            rows = [{**r._asdict(), "stale_at": ts} for r in conn.execute(select(TAGS).where(TAGS.c.ticket_id.in_(chunk)))]
            upsert(conn, STALE_TAGS, rows, update=False)
            conn.execute(delete(TAGS).where(TAGS.c.ticket_id.in_(chunk)))
            moved += len(rows)
    return moved


def _store(url: str, tickets: pd.DataFrame, quarantine: pd.DataFrame, source: str,
           target_url: str | None = None) -> dict:
    """Insert new tickets, update changed ones (their tags go stale first), add new quarantine rows."""
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
    with engine(url).connect() as conn:
        old = _existing(conn, [r["ticket_id"] for r in trows])
    # a ticket sent twice in one batch keeps its first version and the second is quarantined as
    # duplicate_id; which of the two is current is unknown, so such a ticket does not update a stored one
    ambiguous = set(quarantine.loc[quarantine["reason"] == "duplicate_id", "ticket_id"]) if len(quarantine) else set()
    fresh = [r for r in trows if r["ticket_id"] not in old]
    changed = [r for r in trows if r["ticket_id"] in old and r["ticket_id"] not in ambiguous
               and old[r["ticket_id"]] != tuple(r[c] for c in _CONTENT)]
    # stale first: killed between the two steps, the next ingest sees the change again and finishes it
    stale = mark_tags_stale(target_url or url, [r["ticket_id"] for r in changed if old[r["ticket_id"]][0] != r["text"]])
    with engine(url).begin() as conn:
        before = conn.execute(select(func.count()).select_from(TICKETS)).scalar()
        upsert(conn, TICKETS, fresh, update=False)
        upsert(conn, TICKETS, changed, update=True)
        upsert(conn, QUARANTINE, qrows, update=False)
        added = conn.execute(select(func.count()).select_from(TICKETS)).scalar() - before
    return {"rows": len(trows), "new": int(added), "updated": len(changed), "tags_stale": stale,
            "quarantined": len(qrows),
            "quarantine_reasons": quarantine["reason"].value_counts().to_dict() if len(quarantine) else {}}


def ingest_sql_interval(src: SQLSource, workspace_url: str, until: str, limits: IngestLimits = IngestLimits(),
                        watermark_key: str | None = None, target_url: str | None = None) -> dict:
    """Pull tickets created after the source's watermark and up to ``until`` (ISO time).

    The source's queries receive ``:since`` and ``:until`` bind parameters and must filter on them.
    The report counts ``new`` and ``updated`` tickets and ``tags_stale`` (tag rows whose ticket text
    changed, found in ``target_url``'s tags table, default the workspace).
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
    report = _store(workspace_url, tickets, quarantine, key, target_url)
    new_mark = max(since, until)  # the interval is done, quarantined rows included
    with engine(workspace_url).begin() as conn:
        upsert(conn, WATERMARKS, [{"source": key, "value": new_mark, "updated_at": now()}])
    return {**report, "since": since, "until": until, "watermark": new_mark}


def ingest_folder(folder: str | Path, workspace_url: str, limits: IngestLimits = IngestLimits(),
                  target_url: str | None = None) -> dict:
    """Ingest every new file (by content hash) in a drop folder.

    The report counts ``files``, ``rows``, ``new``, ``quarantined`` and ``skipped_files``, and, when
    any ticket was re-sent with changed content, ``updated`` and ``tags_stale`` (see
    :func:`ingest_sql_interval`).
    """
    init_workspace(workspace_url)
    folder = Path(folder)
    total = {"files": 0, "rows": 0, "new": 0, "quarantined": 0, "skipped_files": 0}
    changes = {"updated": 0, "tags_stale": 0}
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
        rep = _store(workspace_url, tickets, quarantine, str(p), target_url)
        with engine(workspace_url).begin() as conn:
            upsert(conn, FILES, [{"sha256": sha, "path": str(p), "rows": rep["rows"], "quarantined": rep["quarantined"],
                                  "ingested_at": now()}], update=False)
        total["files"] += 1
        for k in ("rows", "new", "quarantined"):
            total[k] += rep[k]
        for k in changes:
            changes[k] += rep[k]
    if changes["updated"]:
        total.update(changes)
    return total


def count_rows(url: str, table: Table) -> int:
    with engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar())


def workspace_source(workspace_url: str) -> dict:
    """The config ``dataset.pool`` entry that reads the workspace's tickets back."""
    return {"url": workspace_url, "table": "tickets"}


def tickets_frame(workspace_url: str, ids: list[str] | None = None,
                  columns: tuple[str, ...] = ("ticket_id", "text")) -> pd.DataFrame:
    """The workspace's tickets (those of ``ids``, or all), with ``columns`` of the tickets table."""
    q = select(*[TICKETS.c[c] for c in columns])
    if ids is not None:
        q = q.where(TICKETS.c.ticket_id.in_(ids))
    with engine(workspace_url).connect() as conn:
        return pd.DataFrame(conn.execute(q).fetchall(), columns=list(columns))


def store_drift_reports(url: str, rows: list[dict], model_version: str) -> int:
    """Upsert drift-watch rows (``tagger.drift.drift_watch``) into ``drift_reports``; returns the count."""
    init_target(url)
    stamp = now()
    keep = {c.name for c in DRIFT_REPORTS.columns}
    recs = [{**{k: v for k, v in r.items() if k in keep}, "model_version": model_version, "computed_at": stamp}
            for r in rows]
    with engine(url).begin() as conn:
        upsert(conn, DRIFT_REPORTS, recs)
    return len(recs)


def drift_reports(url: str) -> pd.DataFrame:
    """Every stored drift-watch row, oldest window first."""
    init_target(url)
    with engine(url).connect() as conn:
        return pd.read_sql(select(DRIFT_REPORTS).order_by(DRIFT_REPORTS.c.window_start, DRIFT_REPORTS.c.computed_at),
                           conn)
