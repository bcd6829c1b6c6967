"""Batch tagging of workspace tickets with the champion model, in shards, into the target tags table.

Each shard is tagged and written in one transaction with an upsert keyed by
``(ticket_id, model_version)``: reruns and retries never duplicate rows, and a shard killed midway
leaves nothing half-written. Tickets whose top confidence is below ``review_threshold`` are flagged
``needs_review``.
"""
from __future__ import annotations

from sqlalchemy import select

from data.warehouse import TAGS, TICKETS, engine, init_target, now, tickets_frame, upsert
from models.end_model import TaggerModel
from models.registry import Registry
from tagger.tagging import tag_frame


def untagged_ids(workspace_url: str, target_url: str, model_version: str) -> list[str]:
    init_target(target_url)
    with engine(workspace_url).connect() as conn:
        ids = [r[0] for r in conn.execute(select(TICKETS.c.ticket_id).order_by(TICKETS.c.ticket_id))]
    with engine(target_url).connect() as conn:
        done = {r[0] for r in conn.execute(select(TAGS.c.ticket_id).where(TAGS.c.model_version == model_version))}
    return [i for i in ids if i not in done]


def plan_shards(ids: list[str], shard_size: int) -> list[list[str]]:
    return [ids[i:i + shard_size] for i in range(0, len(ids), shard_size)]


def tag_shard(ids: list[str], workspace_url: str, target_url: str, registry_root: str, model_version: str,
              review_threshold: float = 0.5, precision: str = "int8") -> dict:
    champ = next(v for v in Registry(registry_root).load()["versions"] if v["version"] == model_version)
    model = TaggerModel.load(champ["path"], precision=precision)
    tickets = tickets_frame(workspace_url, ids)
    out = tag_frame(model, tickets)
    ts = now()
    rows = [{"ticket_id": r.ticket_id, "model_version": model_version, "tag": r.tag,
             "confidence": float(r.confidence), "needs_review": bool(r.confidence < review_threshold),
             "tagged_at": ts} for r in out.itertuples()]
    init_target(target_url)
    with engine(target_url).begin() as conn:
        upsert(conn, TAGS, rows, update=True)
    return {"tagged": len(rows), "needs_review": sum(r["needs_review"] for r in rows)}
