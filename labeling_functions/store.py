"""The LF store: reviewable YAML files, one per tag (``<store>/<tag>.yaml``), LFs sorted by id.

Lifecycle: ``proposed`` -> ``active`` | ``rejected``; ``active`` -> ``retired``; ``retired`` ->
``active``; ``rejected`` -> ``proposed``. Every change records who, when and why in
``provenance.history``. Only ``active`` LFs feed training (``lfs.statuses`` in the run config).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Iterable

from filelock import FileLock

from data.atomic import atomic_write_text
from labeling_functions.spec import LFSpec, dump_specs, load_specs

log = logging.getLogger("tagger.lfstore")
SEEN_FILE = "seen_dev_tickets.json"  # beside generated LFs: the gold_dev tickets their proposer or gate saw
TRANSITIONS = {"proposed": {"active", "rejected"}, "active": {"retired"}, "retired": {"active"},
               "rejected": {"proposed"}}


class LifecycleError(ValueError):
    pass


def _file_name(tag: str) -> str:
    """A portable file name per tag; a tag with other characters (``reverted_card_payment?``) gets a short
    hash of its name appended, so two tags never share a file."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", tag)
    if safe != tag:
        safe += "-" + hashlib.sha256(tag.encode("utf-8")).hexdigest()[:8]
    return safe + ".yaml"


class LFStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def all(self) -> list[LFSpec]:
        """Every LF in the store. A file that fails to load, or an entry in it that does not validate
        (say a regex RE2 cannot run), is left out with its error in ``self.errors`` (file -> messages,
        also logged), so the other LFs stay usable. Such a file is never rewritten (see :meth:`_check_writable`)."""
        self.errors: dict[str, str] = {}
        if not self.root.exists():
            return []
        out: list[LFSpec] = []
        for f in sorted(self.root.rglob("*.y*ml")):
            bad: list[str] = []
            try:
                out.extend(load_specs(f, errors=bad))
            except Exception as e:  # noqa: BLE001 - any broken file is named, never fatal to the store
                bad.append(str(e))
            if bad:
                self.errors[str(f)] = "; ".join(bad)
                log.error("LF store file %s: left out: %s", f, self.errors[str(f)])
        return out

    def _check_writable(self, tag: str) -> None:
        """Refuse to rewrite a tag's file that did not load cleanly: the LFs left out would be lost."""
        f = str(self.root / _file_name(tag))
        if f in getattr(self, "errors", {}):
            raise LifecycleError(f"{f} has LFs that do not load ({self.errors[f]}); fix or remove them first, "
                                 "so rewriting the file loses nothing")

    @contextlib.contextmanager
    def locked(self, timeout: float = 30):
        """Hold the store's file lock (``<store>.lock``, beside the folder, so the folder holds only LF
        files) around a read-modify-write: the CLI, the web app and jobs working on one store never lose
        each other's changes."""
        root = self.root.resolve()
        root.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root.with_name(root.name + ".lock")), timeout=timeout):
            yield

    def get(self, lf_id: str) -> LFSpec:
        for s in self.all():
            if s.id == lf_id:
                return s
        raise KeyError(f"no LF with id {lf_id!r} in {self.root}")

    def _write_tag(self, tag: str, specs: list[LFSpec]) -> None:
        path = self.root / _file_name(tag)
        if specs:
            dump_specs(sorted(specs, key=lambda s: s.id), path)
        elif path.exists():
            path.unlink()
        legacy = self.root / (re.sub(r"[^A-Za-z0-9_.-]", "_", tag) + ".yaml")  # before names carried a hash
        if legacy != path and legacy.exists() and all(s.tag == tag for s in load_specs(legacy)):
            legacy.unlink()

    def add(self, specs: list[LFSpec], seen: Iterable[str] = ()) -> list[str]:
        """Add new LFs (ids already in the store are skipped); returns the ids added. ``seen``: the gold_dev
        tickets their proposer or gate saw, added to the store's ``seen_dev_tickets.json``, so a run that
        trains on the store keeps them out of its recipe selection."""
        with self.locked():
            added = self._add(specs)
            if added:
                self._add_seen(seen)
            return added

    def seen(self) -> set[str]:
        return read_seen(self.root)

    def _add_seen(self, ids: Iterable[str]) -> None:
        ids = {str(i) for i in ids}
        if not ids:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        write_seen(self.root, self.seen() | ids)

    def _add(self, specs: list[LFSpec]) -> list[str]:
        current = {s.id: s for s in self.all()}
        added = []
        by_tag: dict[str, list[LFSpec]] = {}
        for s in current.values():
            by_tag.setdefault(s.tag, []).append(s)
        for s in specs:
            if s.id in current:
                continue
            by_tag.setdefault(s.tag, []).append(s)
            current[s.id] = s
            added.append(s.id)
        for tag in {current[i].tag for i in added}:
            self._check_writable(tag)
        for tag in {current[i].tag for i in added}:
            self._write_tag(tag, by_tag[tag])
        return added

    def retag(self, old: str, new: str, by: str, reason: str) -> int:
        """Move every LF of tag ``old`` to tag ``new`` (a renamed or merged tag): ids kept, the move recorded
        in each LF's history, ``old``'s file removed. Returns how many LFs moved."""
        with self.locked():
            specs = self.all()
            moving = [s for s in specs if s.tag == old]
            if not moving:
                return 0
            self._check_writable(old)
            self._check_writable(new)
            own = self.root / _file_name(old)
            in_file = {s.id for s in load_specs(own)} if own.exists() else set()
            if {s.id for s in moving} - in_file:
                raise LifecycleError(f"some LFs of tag {old!r} live outside {own}; move them there first")
            at = time.strftime("%Y-%m-%dT%H:%M:%S")
            moved = [s.model_copy(update={"tag": new, "provenance": {**s.provenance, "history": [
                *s.provenance.get("history", []), {"from": s.status, "to": s.status, "by": by, "at": at,
                                                   "reason": reason, "tag": f"{old} -> {new}"}]}}) for s in moving]
            self._write_tag(new, [s for s in specs if s.tag == new] + moved)
            (self.root / _file_name(old)).unlink(missing_ok=True)
            return len(moved)

    def set_status(self, lf_id: str, status: str, by: str, reason: str) -> LFSpec:
        with self.locked():
            return self._set_status(lf_id, status, by, reason)

    def _set_status(self, lf_id: str, status: str, by: str, reason: str) -> LFSpec:
        if not reason or not reason.strip():
            raise LifecycleError("a reason is required")
        spec = self.get(lf_id)
        if status not in TRANSITIONS.get(spec.status, set()):
            raise LifecycleError(f"{lf_id}: cannot go from {spec.status} to {status} "
                                 f"(allowed: {sorted(TRANSITIONS.get(spec.status, set()))})")
        history = list(spec.provenance.get("history", []))
        history.append({"from": spec.status, "to": status, "by": by, "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                        "reason": reason.strip()})
        new = spec.model_copy(update={"status": status, "provenance": {**spec.provenance, "history": history}})
        same_tag = [new if s.id == lf_id else s for s in self.all() if s.tag == spec.tag]
        self._check_writable(spec.tag)
        self._write_tag(spec.tag, same_tag)
        return new


def write_seen(folder: str | Path, ticket_ids: Iterable[str]) -> None:
    """Record beside generated LFs which gold_dev tickets the proposers and the gate saw, so a later run
    that loads these LFs keeps those tickets out of its recipe selection (``tagger.select.seen_dev_mask``)."""
    atomic_write_text(Path(folder) / SEEN_FILE, json.dumps({
        "why": "gold_dev tickets shown to the LF proposers or used by the gate (the gating half); recipe "
               "selection must not score on them", "ticket_ids": sorted(map(str, ticket_ids))}, indent=0))


def read_seen(folder: str | Path) -> set[str]:
    """The ticket ids of ``folder``'s ``seen_dev_tickets.json`` (none when it has none)."""
    f = Path(folder) / SEEN_FILE
    return set(map(str, json.loads(f.read_text())["ticket_ids"])) if f.exists() else set()
