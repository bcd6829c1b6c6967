"""The functions the Airflow DAGs call (and any other scheduler could): each is a plain function
of a settings file and a few arguments, returning a small JSON-able report.

Settings (``configs/airflow.yaml``): ``workspace_url``, ``target_url``, ``registry``, ``lf_store``,
``run_config``, ``source`` (a SQL source whose queries filter on ``:since`` / ``:until``),
``drop_folder``, ``shard_size``, ``review_threshold``, ``precision`` (encoder for batch tagging), ``drift``
(drift watch: windows, reference, thresholds, webhook). Relative paths and ``sqlite:///`` URLs
resolve against the settings file's folder.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tagger.config import SQLSourceConfig, _resolve, _resolve_url, load_config
from tagger.drift import DriftSettings


class JobSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspace_url: str
    target_url: str
    registry: str
    lf_store: str
    run_config: str
    source: SQLSourceConfig | None = None
    drop_folder: str | None = None
    shard_size: int = Field(500, ge=1, le=10_000)
    review_threshold: float = Field(0.5, ge=0, le=1)
    precision: Literal["int8", "fp32"] = "int8"
    refine_batch_dir: str | None = None  # batch (air-gapped) LLM mode of lf_refinement: requests out, replies in
    drift: DriftSettings = DriftSettings()  # drift watch: windows, reference, alert thresholds, webhook
    settings_path: str | None = None


def load_settings(path: str | Path) -> JobSettings:
    path = Path(path).resolve()
    s = JobSettings.model_validate(yaml.safe_load(path.read_text()))
    base = path.parent
    s.workspace_url, s.target_url = _resolve_url(base, s.workspace_url), _resolve_url(base, s.target_url)
    s.registry, s.lf_store, s.run_config = _resolve(base, s.registry), _resolve(base, s.lf_store), _resolve(base, s.run_config)
    if s.source:
        s.source.url = _resolve_url(base, s.source.url)
    if s.drop_folder:
        s.drop_folder = _resolve(base, s.drop_folder)
    if s.refine_batch_dir:
        s.refine_batch_dir = _resolve(base, s.refine_batch_dir)
    s.settings_path = str(path)
    for url in (s.workspace_url, s.target_url):
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return s


def _run_config(s: JobSettings, **overrides):
    cfg = load_config(s.run_config, overrides)
    cfg.dataset.pool = SQLSourceConfig(url=s.workspace_url, table="tickets")
    cfg.dataset.generate_demo = None
    Path(s.lf_store).mkdir(parents=True, exist_ok=True)
    cfg.lfs.spec_dirs = [s.lf_store]
    return cfg


def ingest(settings: str, until: str) -> dict:
    """ticket_ingest: new tickets from the source (up to ``until``) and from the drop folder."""
    from data.warehouse import TICKETS, count_rows, ingest_folder, ingest_sql_interval
    from tagger.dataset import ensure_demo_data

    s = load_settings(settings)
    ensure_demo_data(load_config(s.run_config))  # the demo source database, when the run config makes one
    report = {}
    if s.source:
        report["source"] = ingest_sql_interval(s.source.to_source(), s.workspace_url, until, target_url=s.target_url)
    if s.drop_folder:
        report["drop_folder"] = ingest_folder(s.drop_folder, s.workspace_url, target_url=s.target_url)
    report["workspace_tickets"] = count_rows(s.workspace_url, TICKETS)
    return report


def refine_lfs(settings: str) -> dict:
    """lf_refinement: run the loop in review mode; new LFs land in the LF store as ``proposed``."""
    from labeling_functions.spec import load_specs
    from labeling_functions.store import LFStore, read_seen
    from tagger.refine import run_refine

    s = load_settings(settings)
    overrides: dict = {"refine.enabled": True, "refine.mode": "review"}
    report: dict = {}
    if s.refine_batch_dir:
        report = import_waiting_replies(s.refine_batch_dir)
        if report.get("awaiting"):
            return report  # the pending round's replies have not arrived: nothing to run yet
        overrides.update({"refine.backend": "openai", "refine.openai.batch_dir": s.refine_batch_dir})
    cfg = _run_config(s, **overrides)
    run_dir = run_refine(cfg, progress=False)
    proposed = [x for x in load_specs(run_dir / "refine" / "generated_lfs.yaml") if x.status == "proposed"]
    added = LFStore(s.lf_store).add(proposed, seen=read_seen(run_dir / "refine"))  # their gate's tickets: never selected on
    if s.refine_batch_dir:
        from llm_rulegen.batch import BatchFolder

        pend = BatchFolder(s.refine_batch_dir).pending()
        report["exported"] = None if pend is None else {"round": pend["round"], "requests_file": pend["requests_file"]}
    return {**report, "run_dir": str(run_dir), "proposed": len(proposed), "added_to_store": len(added),
            "store": s.lf_store}


def import_waiting_replies(batch_dir: str) -> dict:
    """Batch mode of lf_refinement: import the pending round's replies when they have arrived as
    ``BATCH_DIR/inbox/round-NN.jsonl`` (a Batch API output file) or ``BATCH_DIR/inbox/round-NN/``
    (reply texts); report ``awaiting`` when they have not."""
    from llm_rulegen.batch import BatchFolder

    folder = BatchFolder(batch_dir)
    pend = folder.pending()
    if pend is None:
        return {"imported": None}
    inbox = Path(batch_dir) / "inbox" / f"round-{pend['round']:02d}"
    src = next((c for c in (inbox.with_suffix(".jsonl"), inbox) if c.exists()), None)
    if src is None:
        return {"awaiting": pend["round"], "requests_file": pend["requests_file"], "put_replies_at": f"{inbox}.jsonl"}
    return {"imported": folder.import_replies(src)}


def train(settings: str) -> dict:
    """train_tagger: approved LFs -> label model -> end model -> scores; promote if not worse on gold_dev."""
    from models.registry import Registry
    from tagger.pipeline import run_pipeline

    s = load_settings(settings)
    cfg = _run_config(s, **{"refine.enabled": False})
    run_dir = run_pipeline(cfg, progress=False)
    m = json.loads((run_dir / "metrics.json").read_text())
    sel = m.get("selection") or {}
    cv = [r["cv_macro_f1_mean"] for r in sel.get("table", []) if r["recipe"] == sel["chosen"]["name"]]
    # no recipe CV (one recipe, or too few gold_dev tickets to compare): the label model's dev accuracy
    dev = cv[0] if cv else m["label_model"]["gold_dev_accuracy_label_model"]
    reg = Registry(s.registry)
    version = reg.register(run_dir, dev_score=dev)
    return {"run_dir": str(run_dir), **reg.promote_if_not_worse(version)}


def plan_tagging(settings: str) -> list[dict]:
    """batch_tagging: the shards of tickets the champion has not tagged yet."""
    from models.registry import Registry
    from tagger.batch import plan_shards, untagged_ids

    s = load_settings(settings)
    champ = Registry(s.registry).champion()
    if champ is None:
        return []
    ids = untagged_ids(s.workspace_url, s.target_url, champ["version"])
    return [{"ids": shard, "model_version": champ["version"]} for shard in plan_shards(ids, s.shard_size)]


def tag_shard(settings: str, shard: dict) -> dict:
    from tagger.batch import tag_shard as _tag

    s = load_settings(settings)
    return _tag(shard["ids"], s.workspace_url, s.target_url, s.registry, shard["model_version"], s.review_threshold,
                s.precision)


def watch_drift(settings: str) -> dict:
    """drift_watch: the champion and the LFs it was trained with, on every window of the workspace's
    tickets against the reference window; rows into ``drift_reports`` (target database), the page to
    ``REGISTRY/drift.html``, alerts logged and POSTed to ``drift.webhook_url`` when set."""
    from labeling_functions.spec import load_specs
    from labeling_functions.store import LFStore
    from models.registry import Registry
    from data.warehouse import tickets_frame
    from tagger.drift import run_drift

    s = load_settings(settings)
    champ = Registry(s.registry).champion()
    if champ is None:
        return {"skipped": "no champion yet"}
    lfs = Path(champ["run_dir"]) / "lfs.yaml"
    specs = load_specs(lfs) if lfs.exists() else [x for x in LFStore(s.lf_store).all() if x.status == "active"]
    tickets = tickets_frame(s.workspace_url, columns=("ticket_id", "text", "operator_tag", "created_at", "metadata"))
    rows = run_drift(tickets, champ["path"], specs, s.drift, champ["version"],
                     db_url=s.target_url, page=Path(s.registry) / "drift.html", precision=s.precision,
                     review_threshold=s.review_threshold)
    return {"windows": len(rows), "model_version": champ["version"],
            "alerts": {r["window_start"]: r["alerts"] for r in rows if r["alert"]}}
