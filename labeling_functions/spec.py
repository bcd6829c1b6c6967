"""Declarative LF specs and their YAML files. An LF is data an analyst can read and diff; nothing in it is executed.

Kinds and their ``params``:

- ``keyword``: ``any`` (fires if any phrase occurs), ``all`` (every phrase must occur),
  ``exclude`` (no phrase may occur). Phrases match case-insensitively on word boundaries.
- ``regex``: ``pattern`` (RE2 syntax, searched case-insensitively unless ``ignore_case: false``),
  optional ``exclude_pattern``. Patterns run on RE2, whose matching time is linear in the text, never
  on Python's backtracking ``re``; constructs RE2 lacks (lookaround, backreferences, atomic groups,
  possessive quantifiers, conditionals, ``\\Z``, inline flags other than ``imsU``) are rejected by
  name. RE2's ``\\b``, ``\\w``, ``\\d`` and ``\\s`` are ASCII-only (use ``\\p{L}`` for letters, or a
  keyword LF for words); a ``\\b`` next to a non-ASCII letter, which could never match, is rejected.
  The engine and these checks are :mod:`labeling_functions.regex`.
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

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labeling_functions.regex import (
    RegexSyntaxError,
    UnsafeRegex,
    UnsupportedRegex,
    check_regex,
)

Status = Literal["proposed", "active", "rejected", "retired"]
MAX_PATTERN_LEN = 500


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
                check_regex(v)
            except RegexSyntaxError as e:
                raise ValueError(f"regex does not compile: {e}") from None
            except UnsupportedRegex as e:
                raise ValueError(f"unsupported regex: {e}") from None
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
            raise ValueError(f"params do not match kind {self.kind!r}")  # noqa: TRY004 - pydantic reports ValueErrors
        return self


def load_specs(path: str | Path, errors: list[str] | None = None) -> list[LFSpec]:
    """Load LF specs from a YAML file (a list, or a mapping with an ``lfs`` list) or a folder of them.

    An entry that does not validate raises ``ValueError`` naming the file, the entry and why; with an
    ``errors`` list it is skipped instead and that message appended (the other LFs still load)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"LF spec file or folder not found: {path}")
    if path.is_dir():
        out: list[LFSpec] = []
        for p in sorted(path.rglob("*.y*ml")):
            out.extend(load_specs(p, errors))
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
        except Exception as e:  # noqa: BLE001 - name the file and the entry
            msg = f"{path}: LF #{i} ({item.get('id') if isinstance(item, dict) else item!r}): {e}"
            if errors is None:
                raise ValueError(msg) from None
            errors.append(msg)
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
