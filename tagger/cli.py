"""The ``tagger`` command line: a thin shell over the library functions."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import typer  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Weak-supervision ticket tagging: LFs as data, snorkel label model, MiniLM-L6 end model.")


def _setup_logging(verbose: bool, quiet: bool = False) -> None:
    """INFO lines (steps, progress) on stderr; ``--quiet`` keeps only warnings and errors, ``--verbose`` adds DEBUG."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
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
        quiet: bool = typer.Option(False, "--quiet", help="only warnings and errors: no progress, no step lines"),
        verbose: bool = typer.Option(False, "--verbose", help="also debug lines")):
    """Run ingest -> LFs -> label model -> end model -> evaluation; prints the run directory last."""
    from tagger.pipeline import run_pipeline

    run_dir = _pipeline_job(run_pipeline, "summary.md", config, set_, quiet, verbose)
    typer.echo(f"report: {run_dir / 'report.html'}")
    typer.echo(str(run_dir))


def _pipeline_job(fn, summary: str, config: Path, set_: list[str], quiet: bool, verbose: bool) -> Path:
    """Load the config, run ``fn(cfg)`` (the pipeline or the loop), print its summary file; clear errors, exit 2."""
    _setup_logging(verbose, quiet)
    cfg = _load(config, set_)
    try:
        run_dir = fn(cfg, progress=not quiet)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    typer.echo((run_dir / summary).read_text())
    return run_dir


@app.command()
def refine(config: Path = typer.Argument(..., help="YAML run config; its refine section picks backend and budgets"),
           set_: list[str] = typer.Option([], "--set", help="override a config field, e.g. --set refine.backend=openai"),
           store: Path = typer.Option(None, "--store", help="add every LF the loop generated to this LF store for review"),
           export_requests: Path = typer.Option(None, "--export-requests", metavar="DIR",
                                                help="batch mode: run up to the next proposal step and write its "
                                                     "requests to DIR as a Batch API input file"),
           import_replies: Path = typer.Option(None, "--import-replies", metavar="FILE_OR_DIR",
                                               help="batch mode: import a Batch API output file (or a folder of "
                                                    "<custom_id>.txt replies), run the round, export the next"),
           batch_dir: Path = typer.Option(None, "--batch-dir", metavar="DIR",
                                          help="the batch folder of --import-replies (default: "
                                               "refine.openai.batch_dir, else OUTPUT_DIR/NAME-batch)"),
           quiet: bool = typer.Option(False, "--quiet", help="only warnings and errors: no progress, no step lines"),
           verbose: bool = typer.Option(False, "--verbose", help="also debug lines")):
    """Run the LF refinement loop (LLM, batch files or offline miner); prints the run directory last."""
    folder = None
    if export_requests or import_replies:
        folder = _batch_folder(config, set_, export_requests or batch_dir)
        set_ = [*set_, "refine.backend=openai", f"refine.openai.batch_dir={folder}"]
    if import_replies:
        _import_replies(folder, import_replies)
    from tagger.refine import run_refine

    run_dir = _pipeline_job(run_refine, "refine_summary.md", config, set_, quiet, verbose)
    if store:
        from labeling_functions.spec import load_specs
        from labeling_functions.store import LFStore

        new = [s for s in load_specs(run_dir / "refine" / "generated_lfs.yaml") if s.status in ("proposed", "active")]
        added = LFStore(store).add(new)
        typer.echo(f"added {len(added)} LFs to the store {store}")
    if folder is not None:
        from llm_rulegen.batch import BatchFolder

        pend = BatchFolder(folder).pending()
        if pend:
            typer.echo(f"round {pend['round']}: {len(pend['requests'])} requests -> {pend['requests_file']}\n"
                       f"  send it to the Batch API (purpose=batch, endpoint {'/v1/chat/completions'}, window 24h), "
                       f"or answer each prompt in {folder}/round-{pend['round']:02d}/prompts/ as <custom_id>.txt;\n"
                       f"  then: tagger refine {config} --import-replies OUTPUT.jsonl --batch-dir {folder}")
        else:
            typer.echo(f"the loop has stopped; no requests are pending in {folder}. Train on its LFs with: "
                       f"tagger run {config} --set refine.backend=openai --set refine.openai.batch_dir={folder}")
    typer.echo(str(run_dir))


def _import_replies(folder: Path, src: Path) -> None:
    """Import the replies ``src`` into the batch folder ``folder``, or exit naming every problem (nothing stored)."""
    from llm_rulegen.batch import BatchError, BatchFolder

    try:
        got = BatchFolder(folder).import_replies(src)
    except BatchError as e:
        _fail(str(e))
    typer.echo(f"imported {got['replies']} replies of round {got['round']} ({got['errors']} error lines) into {folder}")


def _batch_folder(config: Path, set_: list[str], given: Path | None) -> Path:
    if given is not None:
        return given.resolve()
    cfg = _load(config, set_)
    return Path(cfg.refine.openai.batch_dir or Path(cfg.output_dir) / f"{cfg.name}-batch").resolve()


@app.command()
def tag(input: Path = typer.Argument(..., help="tickets: .csv, .jsonl or .parquet"),
        output: Path = typer.Argument(..., help="where to write ticket_id, tag, confidence, second_tag, "
                                                "second_confidence (.csv/.jsonl/.parquet)"),
        model: Path = typer.Option(..., "--model", help="a model directory from a run (RUN_DIR/model)"),
        batch_size: int = typer.Option(64, help="tickets per encoder batch"),
        precision: str = typer.Option("int8", help="int8 (fast path, default) or fp32 encoder"),
        bom: bool = typer.Option(False, "--bom", help="start CSV output with a UTF-8 byte-order mark (for Excel)"),
        quiet: bool = typer.Option(False, "--quiet", help="only warnings and errors: no progress, no step lines")):
    """Tag a file of tickets with a trained model."""
    _setup_logging(False, quiet)
    from tagger.tagging import tag_file

    import time

    t0 = time.perf_counter()
    try:
        out, q, qpath = tag_file(model, input, output, batch_size=batch_size, progress=not quiet, precision=precision,
                                 bom=bom)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    secs = time.perf_counter() - t0
    if len(q):
        reasons = q["reason"].value_counts().to_dict()
        typer.echo(f"quarantined {len(q)} rows {reasons} -> {qpath}")
    typer.echo(f"tagged {len(out)} tickets -> {output} in {secs:.1f}s ({len(out) / max(secs, 1e-9):.0f} tickets/s, "
               f"model loading included)")


lf_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Review labeling functions in an LF store (YAML files per tag).")
app.add_typer(lf_app, name="lf")
STORE = typer.Option(..., "--store", help="the LF store folder, e.g. workspace/airflow/lfs")
LF_ID = typer.Argument(..., help="the LF's id (see `tagger lf list`)")


@lf_app.command("list")
def lf_list(store: Path = STORE, tag: str = typer.Option(None, help="only this tag's LFs"),
            status: str = typer.Option(None, help="only LFs with this status: proposed, active, rejected, retired"),
            author: str = typer.Option(None, help="only LFs by this author (e.g. miner:miner-v1)"),
            round_: int = typer.Option(None, "--round", help="only LFs from this refinement round"),
            sort: str = typer.Option("id", help="id | coverage | dev_precision | dev_hits | conflicts | overlaps"),
            desc: bool = typer.Option(False, "--desc", help="sort descending"),
            run: Path = typer.Option(None, "--run", help="take coverage / overlaps / conflicts / dev precision from "
                                                         "this run's lf_summary.csv instead of the gate's figures")):
    """List LFs with their statistics, filtered and sorted."""
    import pandas as pd

    from labeling_functions.store import LFStore
    from tagger.lf_tools import lf_table

    if not store.is_dir():
        _fail(f"LF store {store} does not exist (or is not a folder)")
    st = LFStore(store)
    df = lf_table(st.all())
    for f, err in st.errors.items():
        typer.secho(f"warning: {f} does not load and was skipped: {err}", fg=typer.colors.YELLOW, err=True)
    if run is not None:
        if not (run / "lf_summary.csv").exists():
            _fail(f"{run} has no lf_summary.csv")
        stats = pd.read_csv(run / "lf_summary.csv")[["id", "coverage", "overlaps", "conflicts", "dev_precision", "hits"]]
        df = df.drop(columns=["coverage", "dev_precision"]).merge(stats, on="id", how="left")
    if sort not in df.columns:
        _fail(f"--sort must be one of {list(df.columns)}")
    for col, val in (("tag", tag), ("status", status), ("author", author), ("round", round_)):
        if val is not None:
            df = df[df[col].astype(str).str.contains(str(val), regex=False)] if col == "author" else df[df[col] == val]
    df = df.sort_values(sort, ascending=not desc, kind="stable")
    for col in ("round", "hits", "dev_hits"):  # counts print as integers, missing values as "-"
        if col in df:
            df[col] = df[col].astype("Int64")
    typer.echo(df.to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="-") if len(df) else "(no LFs)")
    typer.echo(f"{len(df)} LFs")


@lf_app.command("show")
def lf_show(lf_id: str = LF_ID, store: Path = STORE,
            config: Path = typer.Option(None, "--config", help="measure on this run config's data, with sample hits")):
    """Show an LF: spec, provenance, review history and (with --config) stats and sample hits."""
    import yaml

    from labeling_functions.store import LFStore

    try:
        spec = LFStore(store).get(lf_id)
    except KeyError as e:
        _fail(e.args[0] if e.args else f"no LF {lf_id}")
    typer.echo(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
    if config:
        _setup_logging(False)
        from tagger.lf_tools import format_measurement, measure

        typer.echo(format_measurement(measure(_load(config, []), [spec])[0]))


def _review(lf_id: str, store: Path, status: str, reason: str, by: str | None):
    import getpass

    from labeling_functions.store import LFStore, LifecycleError

    try:
        new = LFStore(store).set_status(lf_id, status, by or getpass.getuser(), reason)
    except KeyError as e:
        _fail(e.args[0] if e.args else f"no LF {lf_id}")
    except LifecycleError as e:
        _fail(str(e))
    typer.echo(f"{new.id}: {new.provenance['history'][-1]['from']} -> {new.status}")


REASON = typer.Option(..., "--reason", help="why (recorded in the LF's history)")
BY = typer.Option(None, "--by", help="who (default: the login name)")


@lf_app.command("approve")
def lf_approve(lf_id: str = LF_ID, store: Path = STORE, reason: str = REASON, by: str = BY):
    """proposed -> active (or re-activate a retired LF): it will feed the next training."""
    _review(lf_id, store, "active", reason, by)


@lf_app.command("reject")
def lf_reject(lf_id: str = LF_ID, store: Path = STORE, reason: str = REASON, by: str = BY):
    """proposed -> rejected."""
    _review(lf_id, store, "rejected", reason, by)


@lf_app.command("retire")
def lf_retire(lf_id: str = LF_ID, store: Path = STORE, reason: str = REASON, by: str = BY):
    """active -> retired: it stops feeding training."""
    _review(lf_id, store, "retired", reason, by)


@lf_app.command("reopen")
def lf_reopen(lf_id: str = LF_ID, store: Path = STORE, reason: str = REASON, by: str = BY):
    """rejected -> proposed: back in the review queue."""
    _review(lf_id, store, "proposed", reason, by)


@lf_app.command("test")
def lf_test(spec_file: Path = typer.Argument(..., help="YAML with one LF or a list (hand-written or edited)"),
            config: Path = typer.Option(..., "--config", help="run config whose pool and gold_dev to test on"),
            samples: int = typer.Option(5, help="sample hits per list")):
    """Try LFs on the data before saving them: gold_dev precision/recall, pool coverage, sample hits."""
    _setup_logging(False)
    from labeling_functions.spec import load_specs
    from tagger.lf_tools import format_measurement, measure

    try:
        specs = load_specs(spec_file)
        results = measure(_load(config, []), specs, samples)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    for m in results:
        typer.echo(format_measurement(m))


@lf_app.command("diff")
def lf_diff(run_a: Path = typer.Argument(..., help="the earlier run directory"),
            run_b: Path = typer.Argument(..., help="the later run directory")):
    """LFs added, removed and changed between two runs, and the gold_dev deltas (CV score, label model,
    per-tag F1); never gold_test."""
    from tagger.lf_tools import diff_runs

    try:
        d = diff_runs(run_a, run_b)
    except FileNotFoundError as e:
        _fail(str(e))
    for k in ("added", "removed", "changed"):
        typer.echo(f"{k} ({len(d[k])}):")
        for i in d[k]:
            typer.echo(f"  {i}")
    typer.echo("metrics (A -> B, delta):")
    for k, (x, y, dl) in sorted(d["metrics"].items()):
        typer.echo(f"  {k:45s} {x:.4f} -> {y:.4f}  ({dl:+.4f})")
    typer.echo("per-tag F1 on gold_dev (out-of-fold, chosen recipe) that changed (A -> B):")
    for tag, x, y, dl in d["per_tag_cv_f1"]:
        typer.echo(f"  {tag:40s} {x:.3f} -> {y:.3f}  ({dl:+.3f})")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a run directory")):
    """(Re)write RUN_DIR/report.html: a self-contained HTML report of the run; prints its path."""
    from tagger.report import write_report

    if not (run_dir / "metrics.json").exists():
        _fail(f"{run_dir} is not a run directory (no metrics.json)")
    typer.echo(str(write_report(run_dir)))


@app.command("demo-data")
def demo_data(out_dir: Path = typer.Argument(Path("workspace/demo"), help="folder for support.db and gold files"),
              n_pool: int = typer.Option(2400, help="tickets in the support database"),
              seed: int = typer.Option(7, help="the generator's seed: the same seed makes the same data"),
              lang: str = typer.Option("en", help="en: a retail bank in English; ru: a small-business bank in Russian")):
    """Generate the seeded demo support database (SQLite) and gold/tag files."""
    from data.demo import generate_demo

    try:
        paths = generate_demo(out_dir, n_pool=n_pool, seed=seed, lang=lang)
    except ValueError as e:
        _fail(str(e))
    for k, p in paths.items():
        typer.echo(f"{k}: {p}")


@app.command()
def demo(config: Path = typer.Option(Path("configs/demo.yaml"), help="the demo config"),
         quiet: bool = typer.Option(False, "--quiet", help="only warnings and errors: no progress, no step lines")):
    """Generate the demo data (if missing), run the pipeline on it, then tag the gold_test tickets."""
    _setup_logging(False, quiet)
    cfg = _load(config, [])
    from tagger.pipeline import run_pipeline
    from tagger.tagging import tag_file

    run_dir = run_pipeline(cfg, progress=not quiet)
    out, q, _ = tag_file(run_dir / "model", cfg.dataset.gold_test, run_dir / "demo_tags.csv", progress=not quiet)
    typer.echo((run_dir / "summary.md").read_text())
    typer.echo(f"tagged {len(out)} demo tickets -> {run_dir / 'demo_tags.csv'}")
    typer.echo(f"report: {run_dir / 'report.html'}  (open it: xdg-open {run_dir / 'report.html'}, or "
               f"python3 -m webbrowser file://{(run_dir / 'report.html').resolve()})")
    typer.echo(str(run_dir))


from tagger.cli_drift import drift  # noqa: E402  (tagger drift)
from tagger.cli_tags import tags_app  # noqa: E402  (tagger tags ...)
from tagger.web import serve, users_app  # noqa: E402  (the review app: tagger serve, tagger users)

app.command()(drift)
app.command()(serve)
app.add_typer(users_app, name="users")
app.add_typer(tags_app, name="tags")

if __name__ == "__main__":
    app()
