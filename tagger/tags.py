"""The tag set over time: add a tag with its expert examples, rename, merge and retire tags, keeping the
tag list, the gold rows and the LF store consistent (``tagger tags ...``).

Every file is rewritten atomically; a change is checked in full before anything is written, so a bad
request (an unknown tag, a name that exists, an examples file without the needed columns, example ids
that are already gold) changes nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.io import file_format, load_tags, read_raw, write_table
from labeling_functions.store import LFStore
from tagger.config import RunConfig

log = logging.getLogger("tagger.tags")


class TagError(ValueError):
    pass


@dataclass
class TagFiles:
    """The files a tag change touches: the tag list and the gold files of a run config."""
    tags: Path
    gold: list[Path]

    @classmethod
    def of(cls, cfg: RunConfig) -> "TagFiles":
        return cls(Path(cfg.dataset.tags), [Path(cfg.dataset.gold_dev), Path(cfg.dataset.gold_test)])


def _read_gold(path: Path) -> pd.DataFrame:
    """A gold file as it is stored (raw columns, nothing masked or rendered), for rewriting."""
    if not path.exists():
        return pd.DataFrame(columns=["ticket_id", "text", "tag"])
    fmt = file_format(path)
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


def _tag_table(files: TagFiles) -> pd.DataFrame:
    return load_tags(files.tags)


def _write_tags(files: TagFiles, table: pd.DataFrame) -> None:
    out = table.copy()
    if "fees_group" in out:
        out["fees_group"] = out["fees_group"].map(lambda v: "True" if v else "False")
    write_table(out, files.tags)


def add_tag(files: TagFiles, name: str, description: str, examples: str | Path, store: str | Path | None = None,
            fees: bool = False) -> dict:
    """Add ``name`` to the tag list with ``description``; its expert examples (``examples``: a CSV, JSONL
    or Parquet file with ``ticket_id`` and ``text`` or ``turns``) become gold_dev rows. Exemplar LFs are
    built from them at the next run; ``tagger refine`` (miner or LLM) then proposes rules for the tag."""
    name = name.strip()
    table = _tag_table(files)
    if not name:
        raise TagError("a tag name is needed")
    if name in set(table["tag"]):
        raise TagError(f"tag {name!r} is already in {files.tags}")
    if not description.strip():
        raise TagError("a description is needed: it tells analysts and the LLM prompts what the tag means")
    ex, bad, src = read_raw(examples)
    if bad:
        raise TagError(f"{src}: {len(bad)} unreadable rows, first: {bad[0]['detail']}")
    ex = ex.drop(columns=["_row"], errors="ignore")
    if "ticket_id" not in ex.columns or not ({"text", "turns"} & set(ex.columns)):
        raise TagError(f"{src}: an examples file needs ticket_id and text (or turns) columns; it has {list(ex.columns)}")
    if len(ex) == 0:
        raise TagError(f"{src}: no examples")
    if "tag" in ex.columns and (ex["tag"].astype(str) != name).any():
        raise TagError(f"{src}: its tag column names other tags than {name!r}")
    ex = ex.assign(tag=name, ticket_id=ex["ticket_id"].astype(str))
    dev_path = files.gold[0]
    dev = _read_gold(dev_path)
    taken = set(ex["ticket_id"]) & set().union(*(set(_read_gold(p)["ticket_id"].astype(str)) for p in files.gold))
    if taken:
        raise TagError(f"{src}: tickets {sorted(taken)[:5]} are already gold; an example can carry one tag only")
    keep = [c for c in ex.columns if c in {"ticket_id", "text", "turns", "tag"} or c in dev.columns]
    write_table(pd.concat([dev, ex[keep]], ignore_index=True), dev_path)  # a row has text or turns, either works
    row = {"tag": name, "description": description.strip()}
    if "fees_group" in table:
        row["fees_group"] = fees
    _write_tags(files, pd.concat([table, pd.DataFrame([row])], ignore_index=True))
    log.info("tag %s added with %d gold_dev examples", name, len(ex))
    return {"tag": name, "examples": int(len(ex)), "gold_dev": str(dev_path), "tags": str(files.tags),
            "store": str(store) if store else None}


def _relabel(files: TagFiles, old: str, new: str) -> dict[str, int]:
    """Rewrite the gold files' ``old`` labels as ``new``; returns rows changed per file."""
    out = {}
    for p in files.gold:
        if not p.exists():
            continue
        g = _read_gold(p)
        hit = g["tag"].astype(str) == old
        if hit.any():
            g.loc[hit, "tag"] = new
            write_table(g, p)
        out[str(p)] = int(hit.sum())
    return out


def _move_lfs(store: str | Path | None, old: str, new: str, by: str, reason: str) -> int:
    if not store:
        return 0
    return LFStore(store).retag(old, new, by, reason)


def rename_tag(files: TagFiles, old: str, new: str, store: str | Path | None = None, by: str = "cli") -> dict:
    """Rename a tag everywhere: the tag list, the gold rows and the LF store (ids kept, history recorded)."""
    table = _tag_table(files)
    tags = set(table["tag"])
    if old not in tags:
        raise TagError(f"unknown tag {old!r} (not in {files.tags})")
    if new in tags:
        raise TagError(f"tag {new!r} already exists: use `tagger tags merge {old} {new}` to fold one into the other")
    if not new.strip():
        raise TagError("a tag name is needed")
    table.loc[table["tag"] == old, "tag"] = new
    gold = _relabel(files, old, new)
    lfs = _move_lfs(store, old, new, by, f"tag {old} renamed to {new}")
    _write_tags(files, table)
    return {"renamed": old, "to": new, "gold_rows": gold, "lfs": lfs}


def merge_tags(files: TagFiles, old: str, into: str, store: str | Path | None = None, by: str = "cli") -> dict:
    """Fold tag ``old`` into ``into``: its gold rows and LFs take the tag ``into``; ``old`` leaves the list."""
    table = _tag_table(files)
    for t in (old, into):
        if t not in set(table["tag"]):
            raise TagError(f"unknown tag {t!r} (not in {files.tags})")
    if old == into:
        raise TagError("a tag cannot be merged into itself")
    gold = _relabel(files, old, into)
    lfs = _move_lfs(store, old, into, by, f"tag {old} merged into {into}")
    _write_tags(files, table[table["tag"] != old].reset_index(drop=True))
    return {"merged": old, "into": into, "gold_rows": gold, "lfs": lfs}


def retire_tag(files: TagFiles, name: str, store: str | Path | None = None, by: str = "cli", reason: str = "") -> dict:
    """Take a tag out of the list; its active LFs are retired (with the reason) and its gold rows stay on file,
    where the next run counts them as quarantined ``unknown_tag``."""
    table = _tag_table(files)
    if name not in set(table["tag"]):
        raise TagError(f"unknown tag {name!r} (not in {files.tags})")
    if not reason.strip():
        raise TagError("a reason is needed")
    retired = 0
    if store:
        st = LFStore(store)
        for s in [s for s in st.all() if s.tag == name and s.status == "active"]:
            st.set_status(s.id, "retired", by, reason)
            retired += 1
    _write_tags(files, table[table["tag"] != name].reset_index(drop=True))
    return {"retired": name, "lfs_retired": retired}
