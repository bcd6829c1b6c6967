"""The ``tagger`` command line: a thin shell over the library functions."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import typer  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Weak-supervision ticket tagging: LFs as data, snorkel label model, MiniLM-L6 end model.")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _load(config: Path, overrides: list[str]):
    import yaml

    from tagger.config import ConfigError, load_config

    ov = {}
    for o in overrides:
        if "=" not in o:
            _fail(f"--set expects KEY=VALUE, got {o!r}")
        k, v = o.split("=", 1)
        ov[k] = yaml.safe_load(v)
    try:
        return load_config(config, ov)
    except ConfigError as e:
        _fail(str(e))


@app.command()
def run(config: Path = typer.Argument(..., help="YAML run config, e.g. configs/demo.yaml"),
        set_: list[str] = typer.Option([], "--set", help="override a config field, e.g. --set end_model.mode=finetune"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
        verbose: bool = typer.Option(False, "--verbose")):
    """Run ingest -> LFs -> label model -> end model -> evaluation; prints the run directory last."""
    _setup_logging(verbose)
    cfg = _load(config, set_)
    from tagger.pipeline import run_pipeline

    try:
        run_dir = run_pipeline(cfg, progress=not quiet)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    typer.echo((run_dir / "summary.md").read_text())
    typer.echo(str(run_dir))


@app.command()
def refine(config: Path = typer.Argument(..., help="YAML run config; its refine section picks backend and budgets"),
           set_: list[str] = typer.Option([], "--set", help="override a config field, e.g. --set refine.backend=openai"),
           quiet: bool = typer.Option(False, "--quiet"),
           verbose: bool = typer.Option(False, "--verbose")):
    """Run the LF refinement loop (LLM or offline miner); prints the run directory last."""
    _setup_logging(verbose)
    cfg = _load(config, set_)
    from tagger.pipeline import run_refine

    try:
        run_dir = run_refine(cfg, progress=not quiet)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    typer.echo((run_dir / "refine_summary.md").read_text())
    typer.echo(str(run_dir))


@app.command()
def tag(input: Path = typer.Argument(..., help="tickets: .csv, .jsonl or .parquet"),
        output: Path = typer.Argument(..., help="where to write ticket_id,tag,confidence (.csv/.jsonl/.parquet)"),
        model: Path = typer.Option(..., "--model", help="a model directory from a run (RUN_DIR/model)"),
        batch_size: int = typer.Option(64, help="tickets per encoder batch"),
        quiet: bool = typer.Option(False, "--quiet")):
    """Tag a file of tickets with a trained model."""
    _setup_logging(False)
    from tagger.tagging import tag_file

    try:
        out, q, qpath = tag_file(model, input, output, batch_size=batch_size, progress=not quiet)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    typer.echo(f"tagged {len(out)} tickets -> {output}")
    if len(q):
        reasons = q["reason"].value_counts().to_dict()
        typer.echo(f"quarantined {len(q)} rows {reasons} -> {qpath}")


@app.command("demo-data")
def demo_data(out_dir: Path = typer.Argument(Path("workspace/demo"), help="folder for support.db and gold files"),
              n_pool: int = typer.Option(2400, help="tickets in the support database"),
              seed: int = typer.Option(7)):
    """Generate the seeded demo support database (SQLite) and gold/tag files."""
    from data.demo import generate_demo

    paths = generate_demo(out_dir, n_pool=n_pool, seed=seed)
    for k, p in paths.items():
        typer.echo(f"{k}: {p}")


@app.command()
def demo(config: Path = typer.Option(Path("configs/demo.yaml"), help="the demo config"),
         quiet: bool = typer.Option(False, "--quiet")):
    """Generate the demo data (if missing), run the pipeline on it, then tag the gold_test tickets."""
    _setup_logging(False)
    cfg = _load(config, [])
    from tagger.pipeline import run_pipeline
    from tagger.tagging import tag_file

    run_dir = run_pipeline(cfg, progress=not quiet)
    out, q, _ = tag_file(run_dir / "model", cfg.dataset.gold_test, run_dir / "demo_tags.csv", progress=not quiet)
    typer.echo((run_dir / "summary.md").read_text())
    typer.echo(f"tagged {len(out)} demo tickets -> {run_dir / 'demo_tags.csv'}")
    typer.echo(str(run_dir))


if __name__ == "__main__":
    app()
