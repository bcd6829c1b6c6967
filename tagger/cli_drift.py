"""``tagger drift``: drift watch from the command line (the ``drift_watch`` DAG runs the same code)."""
from __future__ import annotations

from pathlib import Path

import typer


def drift(config: Path = typer.Argument(..., help="run config whose dataset.pool holds the tickets, with created_at"),
          model: Path = typer.Option(..., help="the model directory to watch (RUN_DIR/model or a registry version)"),
          lfs: Path = typer.Option(None, help="LF specs (a YAML file or an LF store folder; active LFs); default: "
                                   "lfs.yaml of the run the model came from"),
          settings: Path = typer.Option(None, help="configs/airflow.yaml: its drift section (window, reference, "
                                        "thresholds, webhook); default: the built-in defaults"),
          window: str = typer.Option(None, help="override the window: M (months), W (weeks), D (days)"),
          reference: str = typer.Option(None, help="override the reference window's start (ISO date)"),
          db: str = typer.Option(None, help="SQLAlchemy URL: store the rows in its drift_reports table"),
          out: Path = typer.Option(None, help="page to write (default: drift.html beside the model directory)"),
          precision: str = typer.Option("int8", help="encoder precision: int8 or fp32"),
          quiet: bool = typer.Option(False, "--quiet", help="only warnings and errors")):
    """Compare each window of tickets with the reference window: tag mix, confidence, embedding shift,
    LF firing rates, conflicts and uncovered tickets; prints one line per window, alerts marked."""
    from tagger.cli import _fail, _load, _setup_logging

    _setup_logging(False, quiet)
    from labeling_functions.spec import load_specs
    from labeling_functions.store import LFStore
    from tagger.dataset import ingest_limits
    from tagger.drift import DriftSettings, run_drift

    if not (model / "model_config.json").exists():
        _fail(f"{model} is not a model directory (no model_config.json)")
    lf_path = lfs or model.parent / "lfs.yaml"
    if not lf_path.exists():
        _fail(f"no LF specs at {lf_path} (give --lfs)")
    specs = ([s for s in LFStore(lf_path).all() if s.status == "active"] if lf_path.is_dir()
             else load_specs(lf_path))
    s, review = DriftSettings(), 0.5
    if settings:
        from tagger.jobs import load_settings

        js = load_settings(settings)
        s, review = js.drift, js.review_threshold
    s = s.model_copy(update={k: v for k, v in (("window", window), ("reference", reference)) if v})
    cfg = _load(config, [])
    from data.io import load_tickets

    src = cfg.dataset.pool.to_source() if not isinstance(cfg.dataset.pool, str) else cfg.dataset.pool
    tickets, quarantined = load_tickets(src, ingest_limits(cfg))
    try:
        rows = run_drift(tickets, model, specs, DriftSettings.model_validate(s.model_dump()),
                         model.resolve().parent.name,  # the run, or the registry version, the model came from
                         db_url=db, page=out or model.parent / "drift.html", precision=precision,
                         review_threshold=review)
    except (ValueError, RuntimeError) as e:
        _fail(str(e))
    for r in rows:
        typer.echo(f"{r['window_start']}  {int(r['tickets']):>6} tickets  psi {r['tag_mix_psi']:.3f}  "
                   f"domain_auc {r['domain_auc']:.3f}  lf_shift {r['lf_shift_share']:.2f}  "
                   f"review {r['needs_review_share']:.2f}  uncovered {r['uncovered_by_rules']:.2f}  "
                   + (f"ALERT: {r['alerts']}" if r["alert"] else "ok"))
    if len(quarantined):
        typer.echo(f"{len(quarantined)} rows quarantined at ingest")
    typer.echo(str(out or model.parent / "drift.html"))
