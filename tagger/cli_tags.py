"""``tagger tags``: change the tag set (add with a cold start of its LFs, bootstrap, rename, merge, retire);
the tag list, the gold rows and the LF store stay consistent."""
from __future__ import annotations

import getpass
import json
import time
from pathlib import Path

import typer

tags_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Change the tag set: add a tag with its expert examples (and "
                       "bootstrap its LFs), rename, merge, retire; the tag list, gold rows and LF store stay consistent.")
CONFIG = typer.Option(..., "--config", help="the run config whose tag list and gold files to change")
STORE = typer.Option(None, "--store", help="the LF store whose LFs follow the change")
BY = typer.Option(None, "--by", help="who (default: the login name)")
MODE = typer.Option("review", "--mode", help="review: the new LFs wait as `proposed` for an analyst; auto: they "
                    "are `active` at once")
RETRAIN = typer.Option(False, "--retrain", help="then train a model with the store's active LFs (tagger run)")


def _tags_job(fn, config: Path, *args, **kw) -> dict:
    from tagger.cli import _fail, _load
    from tagger.tags import TagError, TagFiles

    try:
        out = fn(TagFiles.of(_load(config, [])), *args, **kw)
    except (TagError, FileNotFoundError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps(out, ensure_ascii=False))
    return out


def _prior_hint(config: Path, name: str) -> None:
    """After ``tags add``: the operator-tag class prior understates a tag the operators have not adopted yet."""
    from tagger.cli import _load

    cfg = _load(config, [])
    if cfg.dataset.use_operator_tags and cfg.label_model.class_prior == "operator_tags":
        typer.echo(f"note: the label model's class balance comes from the operator tags, which hold {name!r} on few "
                   "tickets or none yet, so its tickets lose close calls to the old tags they were filed under; until "
                   "the operators use it, set label_model.class_prior: uniform (README, Class balance)", err=True)


def _bootstrap(names: list[str], config: Path, store: Path, mode: str, retrain: bool, quiet: bool,
               t0: float, import_replies: Path | None = None) -> None:
    """The new tags' LFs into ``store`` (tagger.onboard), then optionally a retrained model. With
    ``import_replies``, the LLM's replies to the exported cold-start requests are imported into the
    config's batch folder first, and the loop replays them."""
    from tagger.cli import _fail, _import_replies, _load, _setup_logging
    from tagger.onboard import bootstrap_tags, with_store

    _setup_logging(False, quiet)
    cfg = _load(config, [])
    if import_replies is not None:
        folder = cfg.refine.openai.batch_dir
        if cfg.refine.backend != "openai" or not folder:
            _fail(f"--import-replies needs batch mode in {config}: refine.backend: openai and refine.openai.batch_dir")
        _import_replies(Path(folder), import_replies)
    try:
        out = bootstrap_tags(cfg, names, store, mode=mode, progress=not quiet)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps({"bootstrap": out}, ensure_ascii=False))
    if out["stop_reason"].startswith("awaiting replies"):
        typer.echo(f"batch mode: {out['stop_reason']}; answer the requests, then run `tagger tags bootstrap "
                   f"{' '.join(names)} --config {config} --store {store} --import-replies FILE_OR_DIR`")
    if retrain:
        from tagger.pipeline import run_pipeline

        try:
            run_dir = run_pipeline(with_store(cfg, store), progress=not quiet)
        except (FileNotFoundError, ValueError) as e:
            _fail(str(e))
        typer.echo((run_dir / "summary.md").read_text())
        typer.echo(f"retrained {time.perf_counter() - t0:.0f}s after the command started")
        typer.echo(str(run_dir))


@tags_app.command("add")
def tags_add(name: str = typer.Argument(..., help="the new tag"),
             description: str = typer.Option(..., "--description", help="what the tag means (also for the LLM)"),
             examples: Path = typer.Option(..., "--examples", help="its expert examples: ticket_id and text (or turns)"),
             config: Path = CONFIG, store: Path = STORE,
             fees: bool = typer.Option(False, "--fees", help="the tag belongs to the fees group"),
             bootstrap: bool = typer.Option(False, "--bootstrap", help="then propose its first LFs into --store "
                                            "(see `tags bootstrap`)"),
             mode: str = MODE, retrain: bool = RETRAIN,
             quiet: bool = typer.Option(False, "--quiet", help="only warnings and the final lines")):
    """Add a tag: to the tag list with its description, its examples to gold_dev. Every run builds its
    exemplar LF; with --bootstrap its first rules are proposed now, with --retrain a model is trained."""
    from tagger.tags import add_tag

    t0 = time.perf_counter()
    if (bootstrap or retrain) and store is None:
        from tagger.cli import _fail

        _fail("--bootstrap and --retrain need --store: the LF store that receives the new tag's LFs")
    _tags_job(add_tag, config, name, description, examples, store, fees)
    _prior_hint(config, name)
    if bootstrap or retrain:
        _bootstrap([name], config, store, mode, retrain, quiet, t0)


@tags_app.command("bootstrap")
def tags_bootstrap(names: list[str] = typer.Argument(..., help="tags in the tag list, with their gold_dev examples "
                                                   "(tags that arrive together share one loop)"),
                   config: Path = CONFIG,
                   store: Path = typer.Option(..., "--store", help="the LF store that receives its LFs"),
                   mode: str = MODE, retrain: bool = RETRAIN,
                   import_replies: Path = typer.Option(
                       None, "--import-replies", metavar="FILE_OR_DIR", help="batch mode: the replies to the exported "
                       "requests (a Batch API output file, or a folder of <custom_id>.txt|.json), imported into "
                       "refine.openai.batch_dir before the loop replays them"),
                   quiet: bool = typer.Option(False, "--quiet", help="only warnings and the final lines")):
    """New tags' cold start: the exemplar LF each one's examples give (reported; every run builds it) and the
    rules a refinement loop proposes for these tags alone (the miner, the LLM, or in batch mode a request
    file to send, then this command again with --import-replies), gated on gold_dev and added to the store."""
    _bootstrap(names, config, store, mode, retrain, quiet, time.perf_counter(), import_replies)


@tags_app.command("rename")
def tags_rename(old: str = typer.Argument(..., help="the tag's name now"),
                new: str = typer.Argument(..., help="its new name (not a tag already: use merge)"), config: Path = CONFIG, store: Path = STORE, by: str = BY):
    """Rename a tag in the tag list, the gold files and the LF store."""
    from tagger.tags import rename_tag

    _tags_job(rename_tag, config, old, new, store, by or getpass.getuser())


@tags_app.command("merge")
def tags_merge(old: str = typer.Argument(..., help="the tag that goes away"),
               into: str = typer.Argument(..., help="the tag that takes its gold rows and LFs"), config: Path = CONFIG, store: Path = STORE, by: str = BY):
    """Fold tag OLD into tag INTO: gold rows and LFs move, OLD leaves the tag list."""
    from tagger.tags import merge_tags

    _tags_job(merge_tags, config, old, into, store, by or getpass.getuser())


@tags_app.command("retire")
def tags_retire(name: str = typer.Argument(..., help="the tag to take off the tag list"), config: Path = CONFIG, store: Path = STORE,
                reason: str = typer.Option(..., "--reason", help="why (recorded in the LF's history)"), by: str = BY):
    """Take a tag out of the tag list; its active LFs are retired with the reason."""
    from tagger.tags import retire_tag

    _tags_job(retire_tag, config, name, store, by or getpass.getuser(), reason)
