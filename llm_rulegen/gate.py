"""The gate every proposed LF passes, whoever proposed it (LLM or miner).

1. the spec validates against the schema (:class:`LFSpec`), its tag exists, its kind is allowed;
2. regexes are safe: they compile in RE2, the linear-time engine every LF pattern runs on (a
   construct RE2 lacks, such as a lookbehind or an atomic group, is rejected as ``unsupported_regex``
   naming the construct); bounded length and RE2 program size; and no nested unbounded repetition
   or repeated alternation (``(a+)+``, ``(\\w*)*``, ``(a|aa)+``), the shapes that would backtrack
   catastrophically in any backtracking engine an LF is copied into (``unsafe_regex``); patterns are
   only ever compiled and searched, never executed as code;
3. on the gating half of gold_dev it fires at least ``min_support`` times with precision at least
   ``min_precision``; on the pool it fires at least once and on at most ``max_coverage`` of tickets;
4. it is not a near-duplicate of an LF already there for the same tag (Jaccard of pool hits).

A passing LF enters as ``proposed`` (review mode) or ``active`` (auto mode); every rejection is
recorded with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from pydantic import ValidationError

from labeling_functions import ABSTAIN
from labeling_functions.apply import apply_lfs, compile_lfs
from labeling_functions.regex import RegexSyntaxError, UnsafeRegex, UnsupportedRegex, check_regex
from labeling_functions.spec import LFSpec
from llm_rulegen.settings import GateConfig


@dataclass
class GateResult:
    accepted: list[LFSpec] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    stats: dict[str, dict] = field(default_factory=dict)


def gate_lfs(candidates: Sequence[dict | LFSpec], tags: Sequence[str], pool: pd.DataFrame, dev: pd.DataFrame,
             existing: Sequence[LFSpec], existing_hits: dict[str, np.ndarray], cfg: GateConfig,
             embed=None, pool_emb=None, dev_emb=None) -> GateResult:
    """Validate, measure and de-duplicate candidate LFs. ``dev`` needs a ``tag`` column (the gating half).

    ``existing_hits`` maps LF id -> boolean pool hit vector of LFs already in the set."""
    out = GateResult()
    index = {t: i for i, t in enumerate(tags)}
    known_ids = {s.id for s in existing}
    hits_by_tag: dict[str, list[tuple[str, np.ndarray]]] = {}
    for s in existing:
        if s.id in existing_hits:
            hits_by_tag.setdefault(s.tag, []).append((s.id, existing_hits[s.id]))
    y = dev["tag"].map(index).to_numpy()
    valid: list[LFSpec] = []
    for c in candidates:
        cid = (c.get("id") if isinstance(c, dict) else c.id) or "?"
        try:
            spec = c if isinstance(c, LFSpec) else LFSpec.model_validate(c)
        except ValidationError as e:
            detail = _short(e)
            kind = "unsupported_regex" if "unsupported regex" in detail else "unsafe_regex" if "unsafe regex" in detail \
                else "schema"
            out.rejected.append({"id": cid, "reason": kind, "detail": detail})
            continue
        reason = None
        if spec.tag not in index:
            reason = ("unknown_tag", f"tag {spec.tag!r} is not in the tag list")
        elif spec.kind not in cfg.allowed_kinds:
            reason = ("kind_not_allowed", f"kind {spec.kind!r} is not allowed here")
        elif spec.kind == "exemplar" and (embed is None or pool_emb is None or dev_emb is None):
            reason = ("kind_not_allowed", "exemplar LFs need the encoder and embeddings, none given to the gate")
        elif spec.id in known_ids:
            reason = ("duplicate_id", f"an LF with id {spec.id!r} already exists")
        elif spec.kind == "regex":
            reason = regex_rejection(spec.params.pattern, spec.params.exclude_pattern)
        if reason:
            out.rejected.append({"id": spec.id, "reason": reason[0], "detail": reason[1]})
            continue
        valid.append(spec)
        known_ids.add(spec.id)  # a second candidate with the same id is a duplicate
    if not valid:
        return out
    # one pass over dev and pool for all candidates (one text index each)
    compiled = compile_lfs(valid, tags, embed=embed)
    dev_all = apply_lfs(dev, compiled, dev_emb)
    pool_all = apply_lfs(pool, compiled, pool_emb)
    for j, spec in enumerate(valid):
        dev_votes, pool_votes = dev_all[:, j], pool_all[:, j]
        reason = None
        fired = dev_votes != ABSTAIN
        n, correct = int(fired.sum()), int((fired & (y == index[spec.tag])).sum())
        prec = correct / n if n else 0.0
        pool_hits = pool_votes != ABSTAIN
        cov = float(pool_hits.mean()) if len(pool_hits) else 0.0
        st = {"dev_hits": n, "dev_correct": correct, "dev_precision": prec, "pool_coverage": cov,
              "pool_hits": int(pool_hits.sum())}
        out.stats[spec.id] = st
        if n < cfg.min_support:
            reason = ("low_support", f"{n} gold_dev hits < min_support {cfg.min_support}")
        elif prec < cfg.min_precision:
            reason = ("low_precision", f"dev precision {prec:.2f} < {cfg.min_precision}")
        elif not pool_hits.any():
            reason = ("no_pool_hits", "fires on no pool ticket")
        elif cov > cfg.max_coverage:
            reason = ("too_broad", f"pool coverage {cov:.2f} > {cfg.max_coverage}")
        else:
            for oid, oh in hits_by_tag.get(spec.tag, []):
                inter = int((oh & pool_hits).sum())
                union = int((oh | pool_hits).sum())
                if union and inter / union >= cfg.max_jaccard:
                    reason = ("near_duplicate", f"pool hits overlap {inter / union:.2f} with {oid}")
                    break
        if reason:
            out.rejected.append({"id": spec.id, "reason": reason[0], "detail": reason[1], **st})
            continue
        prov = {**spec.provenance, "gate": {k: round(v, 4) if isinstance(v, float) else v for k, v in st.items()}}
        spec = spec.model_copy(update={"status": cfg.accept_status, "provenance": prov})
        out.accepted.append(spec)
        hits_by_tag.setdefault(spec.tag, []).append((spec.id, pool_hits))
        existing_hits[spec.id] = pool_hits
    return out


def regex_rejection(*patterns: str | None) -> tuple[str, str] | None:
    """``(reason, detail)`` for the first pattern the engine refuses, or None when all are usable."""
    for p in patterns:
        if p is None:
            continue
        try:
            check_regex(p)
        except UnsupportedRegex as e:
            return "unsupported_regex", str(e)
        except RegexSyntaxError as e:
            return "schema", f"regex does not compile: {e}"
        except UnsafeRegex as e:
            return "unsafe_regex", str(e)
    return None


def _short(e: ValidationError) -> str:
    errs = e.errors()
    return "; ".join(f"{'.'.join(str(x) for x in er['loc'])}: {er['msg']}" for er in errs[:3])


def spec_from_proposal(p: dict[str, Any], author: str, provenance: dict) -> dict:
    """Normalize one proposal object (from an LLM or the miner) into a spec dict; no code is evaluated."""
    d = {k: p[k] for k in ("id", "tag", "kind", "params", "rationale") if k in p}
    d["author"] = author
    d["provenance"] = {**provenance, **({"motivating_tickets": p["motivating_tickets"]}
                                        if isinstance(p.get("motivating_tickets"), list) else {})}
    return d
