"""Declarative LF specs. An LF is data an analyst can read and diff; nothing in it is executed.

Kinds and their ``params``:

- ``keyword``: ``any`` (fires if any phrase occurs), ``all`` (every phrase must occur),
  ``exclude`` (no phrase may occur). Phrases match case-insensitively on word boundaries.
- ``regex``: ``pattern`` (Python ``re`` syntax, searched case-insensitively unless
  ``ignore_case: false``), optional ``exclude_pattern``. Patterns are length-bounded and must compile.
- ``exemplar``: ``texts`` and their ``exemplar_ids``; fires when the cosine similarity of the
  ticket embedding to the nearest exemplar is at least ``threshold``. An exemplar is never compared
  with the ticket it came from (``exemplar_ids`` match ``ticket_id``), so dev statistics are
  leave-one-out.
- ``neighbor``: ``field`` (default ``operator_tag``) ``equals`` a value, ``k`` and ``min_share``: fires
  when at least ``min_share`` of the ticket's ``k`` nearest reference tickets (the pool, by cosine
  similarity of embeddings, never the ticket itself) have that field value. It turns noisy operator
  tags into a smoothed, denoised vote (k-NN label cleaning).
- ``metadata``: ``field`` (a ticket column such as ``operator_tag`` or a metadata key) ``equals`` a
  value (or one of a list of values).

Every LF votes for its ``tag`` or abstains.
"""
from __future__ import annotations

import re
import re._parser as sre_parse
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Status = Literal["proposed", "active", "rejected", "retired"]
MAX_PATTERN_LEN = 500
MAX_REGEX_LEN = 300  # stricter than the field bound: what check_regex allows
_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)}


class UnsafeRegex(ValueError):
    pass


def _walk(items, inside_repeat: bool):
    """Reject unbounded repetition nested in any repetition of more than 3, and repeated alternation."""
    for op, av in items:
        if op in _REPEATS:
            lo, hi, sub = av
            unbounded = hi == sre_parse.MAXREPEAT or hi > 100
            if unbounded and inside_repeat:
                raise UnsafeRegex("nested unbounded repetition (catastrophic backtracking)")
            if hi > 3 and _has_unbounded(sub):
                raise UnsafeRegex("nested unbounded repetition (catastrophic backtracking)")
            if unbounded and any(o == sre_parse.BRANCH for o, _ in _flatten(sub)):
                raise UnsafeRegex("repeated alternation (catastrophic backtracking)")
            _walk(sub, inside_repeat or hi > 3)
        elif op == sre_parse.SUBPATTERN:
            _walk(av[-1], inside_repeat)
        elif op == sre_parse.BRANCH:
            for b in av[1]:
                _walk(b, inside_repeat)
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            _walk(av[1], inside_repeat)
        elif op == sre_parse.GROUPREF_EXISTS:
            raise UnsafeRegex("conditional group references are not allowed")
        elif op == sre_parse.GROUPREF:
            raise UnsafeRegex("backreferences are not allowed")


def _has_unbounded(items) -> bool:
    for op, av in _flatten(items):
        if op in _REPEATS and (av[1] == sre_parse.MAXREPEAT or av[1] > 100 or _has_unbounded(av[2])):
            return True
        if op == sre_parse.BRANCH and any(_has_unbounded(b) for b in av[1]):
            return True
    return False


def _flatten(items):
    for op, av in items:
        yield op, av
        if op == sre_parse.SUBPATTERN:
            yield from _flatten(av[-1])


def check_regex(pattern: str) -> None:
    """Raise :class:`UnsafeRegex` for patterns that are too long, invalid or may backtrack catastrophically."""
    if len(pattern) > MAX_REGEX_LEN:
        raise UnsafeRegex(f"pattern longer than {MAX_REGEX_LEN} characters")
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as e:
        raise UnsafeRegex(f"does not compile: {e}") from None
    _walk(list(parsed), False)




class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeywordParams(_P):
    any: list[str] = []
    all: list[str] = []
    exclude: list[str] = []

    @model_validator(mode="after")
    def _need(self):
        if not self.any and not self.all:
            raise ValueError("keyword LF needs 'any' or 'all' phrases")
        for p in self.any + self.all + self.exclude:
            if not p.strip():
                raise ValueError("empty keyword phrase")
        return self


class RegexParams(_P):
    pattern: str = Field(max_length=MAX_PATTERN_LEN)
    exclude_pattern: str | None = Field(None, max_length=MAX_PATTERN_LEN)
    ignore_case: bool = True

    @field_validator("pattern", "exclude_pattern")
    @classmethod
    def _compiles(cls, v):
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"regex does not compile: {e}") from None
            try:
                check_regex(v)
            except UnsafeRegex as e:
                raise ValueError(f"unsafe regex: {e}") from None
        return v


class ExemplarParams(_P):
    texts: list[str] = Field(min_length=1)
    exemplar_ids: list[str | None] = []
    threshold: float = Field(ge=-1, le=1)

    @model_validator(mode="after")
    def _ids(self):
        if self.exemplar_ids and len(self.exemplar_ids) != len(self.texts):
            raise ValueError("exemplar_ids must be empty or as long as texts")
        return self


class NeighborParams(_P):
    field: str = "operator_tag"
    equals: str
    k: int = Field(10, ge=1, le=200)
    min_share: float = Field(0.5, gt=0, le=1)


class MetadataParams(_P):
    field: str
    equals: str | list[str]


PARAMS = {"keyword": KeywordParams, "regex": RegexParams, "exemplar": ExemplarParams, "metadata": MetadataParams,
          "neighbor": NeighborParams}
KINDS = Literal["keyword", "regex", "exemplar", "metadata", "neighbor"]


class LFSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[^\s/\\]+$", max_length=200)
    tag: str
    kind: KINDS
    params: KeywordParams | RegexParams | ExemplarParams | MetadataParams | NeighborParams
    rationale: str = ""
    author: str = "human"
    status: Status = "proposed"
    provenance: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _params_by_kind(cls, data):
        if isinstance(data, dict) and isinstance(data.get("params"), dict) and data.get("kind") in PARAMS:
            data = dict(data)
            data["params"] = PARAMS[data["kind"]].model_validate(data["params"])
        return data

    @property
    def family(self) -> str:
        """The source family the label model treats as one voter (``provenance.family`` overrides)."""
        if "family" in self.provenance:
            return str(self.provenance["family"])
        if self.kind in ("metadata", "neighbor"):
            return f"{self.kind}:{self.params.field}"
        return self.kind

    @model_validator(mode="after")
    def _kind_matches(self):
        if not isinstance(self.params, PARAMS[self.kind]):
            raise ValueError(f"params do not match kind {self.kind!r}")
        return self


def load_specs(path: str | Path) -> list[LFSpec]:
    """Load LF specs from a YAML file (a list, or a mapping with an ``lfs`` list) or a folder of them."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"LF spec file or folder not found: {path}")
    if path.is_dir():
        out: list[LFSpec] = []
        for p in sorted(path.rglob("*.y*ml")):
            out.extend(load_specs(p))
        return out
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    if isinstance(raw, dict):
        raw = raw.get("lfs", [raw] if "kind" in raw else [])
    specs = []
    for i, item in enumerate(raw):
        try:
            specs.append(LFSpec.model_validate(item))
        except Exception as e:  # name the file and the entry
            raise ValueError(f"{path}: LF #{i} ({item.get('id') if isinstance(item, dict) else item!r}): {e}") from None
    return specs


def dump_specs(specs: list[LFSpec], path: str | Path) -> Path:
    """Write specs as YAML (stable key order, one list) so changes diff cleanly; atomically."""
    from data.atomic import atomic_write_text

    data = {"lfs": [s.model_dump(mode="json") for s in specs]}
    return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def check_unique(specs: list[LFSpec]) -> None:
    seen: set[str] = set()
    for s in specs:
        if s.id in seen:
            raise ValueError(f"duplicate LF id {s.id!r}")
        seen.add(s.id)
