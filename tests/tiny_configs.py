"""Config pieces the tests share, and the ``tagger`` command run in this process."""
import traceback
from types import SimpleNamespace

# The tiny end-to-end run: 360 demo dialogues in SQLite, 12 tags. ``{out}``: its folder; ``{mode}``: frozen or
# finetune. Its recipe grid (``end_model.select``) is the full one on two folds: confident-learning pruning (its
# out-of-fold predictions on two folds), minimum confidences, self-training, the char n-gram block; tests that
# are not about the grid use ``tiny(..., select=SMALL_SELECT)``.
TINY = """
name: tiny
seed: 0
output_dir: {out}/runs
cache_dir: {out}/cache
dataset:
  generate_demo: {{out_dir: {out}/demo, n_pool: 360, n_test_per_tag: 5, n_dev_per_tag: 6, seed: 1}}
  pool:
    url: sqlite:///{out}/demo/support.db
    query: SELECT conversation_id AS ticket_id, opened_at AS created_at, channel, operator_tag FROM conversations
    turns_query: SELECT conversation_id AS ticket_id, seq AS turn_index, sender AS speaker, body AS text FROM messages
  gold_dev: {out}/demo/gold_dev.jsonl
  gold_test: {out}/demo/gold_test.jsonl
  tags: {out}/demo/tags.csv
end_model:
  mode: {mode}
  max_length: 64
  select: {{folds: 2, gold_dev_weights: [1, 5], self_train_rounds: 1, prune_folds: 2, features: [embedding+char]}}
  finetune: {{epochs: 1, batch_size: 16}}
label_model: {{n_epochs: 100}}
"""
FULL_SELECT = ("select: {folds: 2, gold_dev_weights: [1, 5], self_train_rounds: 1, prune_folds: 2, "
               "features: [embedding+char]}")
# two recipes (weak labels + gold_dev at weight 5, gold_dev alone) on two folds: recipe CV still runs and picks
# one, training 4 heads where the full grid trains 26
SMALL_SELECT = ("select: {folds: 2, gold_dev_weights: [5], min_confidences: [0], prune_noisy: false, "
                "self_train: false, features: [embedding]}")


def tiny(out, mode: str = "frozen", select: str = FULL_SELECT) -> str:
    """:data:`TINY` for the folder ``out``, with ``select`` as its ``end_model.select`` line."""
    text = TINY.format(out=out, mode=mode)
    assert FULL_SELECT in text
    return text.replace(FULL_SELECT, select)


def demo_dataset(d, gold_dev: str = "gold_dev.jsonl", use_operator_tags: bool = True) -> str:
    """The YAML ``dataset:`` block over the demo generator's files in ``d``: the pool from its SQLite
    support database (dialogue turns from the messages table)."""
    return f"""dataset:
  pool:
    url: sqlite:///{d}/support.db
    query: SELECT conversation_id AS ticket_id, operator_tag FROM conversations
    turns_query: SELECT conversation_id AS ticket_id, seq AS turn_index, sender AS speaker, body AS text FROM messages
  gold_dev: {d}/{gold_dev}
  gold_test: {d}/gold_test.jsonl
  tags: {d}/tags.csv
  use_operator_tags: {str(use_operator_tags).lower()}
"""


def cli(*args, env: dict | None = None, input: str | None = None):
    """``tagger ARGS`` run in this process through typer's CliRunner (the same ``tagger.cli`` app the
    console script runs), without a new interpreter loading torch and the models again. Returns what
    ``subprocess.run`` would: ``returncode``, ``stdout``, ``stderr`` (an unexpected exception's
    traceback included). ``input``: what the command reads on stdin."""
    from typer.testing import CliRunner

    from tagger.cli import app

    r = CliRunner(env={"HF_HUB_OFFLINE": "1", **(env or {})}).invoke(app, [str(a) for a in args], input=input)
    err = r.stderr
    if r.exc_info and not isinstance(r.exception, SystemExit):
        err += "".join(traceback.format_exception(*r.exc_info))
    return SimpleNamespace(returncode=r.exit_code, stdout=r.stdout, stderr=err)
