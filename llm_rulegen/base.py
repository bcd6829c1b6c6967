"""The proposer interface shared by the LLM backend and the offline miner.

A proposer gets a :class:`RoundContext` (tags with descriptions, the gating half of gold_dev, the
current LFs and their stats, the current model's errors) and returns a :class:`Proposal`: a list
of plain dicts (``action`` add / edit / retire, and for add/edit an LF spec: ``id``, ``tag``,
``kind``, ``params``, ``rationale``, optional ``motivating_tickets``), plus usage. Proposals are
data: they are validated and gated (:mod:`llm_rulegen.gate`), never executed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from labeling_functions.spec import LFSpec


@dataclass
class TagErrors:
    tag: str
    description: str
    dev_f1: float
    false_negatives: pd.DataFrame  # ticket_id, text, predicted, lfs_fired
    false_positives: pd.DataFrame  # ticket_id, text, gold, lfs_fired
    examples: pd.DataFrame         # gold examples of the tag in the gating half (ticket_id, text)
    confusable: list[str]


@dataclass
class RoundContext:
    round: int
    tags: list[str]
    descriptions: dict[str, str]
    pool: pd.DataFrame                 # ticket_id, text
    pool_pseudo: np.ndarray            # current weak label (tag index) per pool ticket, -1 = none
    dev_gate: pd.DataFrame             # ticket_id, text, tag  (the gating half)
    lfs: list[LFSpec]                  # current LF set (generated + fixed)
    lf_stats: pd.DataFrame             # lf_summary on the gating half
    errors: dict[str, TagErrors]       # tags that need work, worst first
    max_new_per_tag: int = 2
    rejected_ids: set = field(default_factory=set)  # LF ids the gate already rejected in earlier rounds
    rejected: list[dict] = field(default_factory=list)  # those rejections: id, tag, definition, reason, detail
    budget: dict = field(default_factory=dict)  # what the run may still spend: tokens, cost_usd (absent = no cap)
    pool_emb: np.ndarray | None = None  # encoder embeddings of ``pool`` rows (for exemplar mining; never sent out)
    dev_emb: np.ndarray | None = None   # encoder embeddings of ``dev_gate`` rows
    language: str = "English"           # the tickets' language; the prompts ask for LFs in it


    def budget_left(self, spent: dict) -> str | None:
        """None while ``spent`` (this round's usage so far) fits the budget, else what ran out."""
        tok = int(spent.get("prompt_tokens", 0)) + int(spent.get("completion_tokens", 0))
        if "tokens" in self.budget and tok >= self.budget["tokens"]:
            return f"token budget: {tok} of {self.budget['tokens']} left for this round spent"
        if "cost_usd" in self.budget and spent.get("cost_usd", 0.0) >= self.budget["cost_usd"]:
            return f"money budget: ${spent.get('cost_usd', 0.0):.4f} of ${self.budget['cost_usd']:.4f} left spent"
        return None


@dataclass
class Proposal:
    items: list[dict]
    usage: dict = field(default_factory=dict)     # prompt_tokens, completion_tokens, cost_usd, requests
    events: list[dict] = field(default_factory=list)  # retries, errors, cache hits: recorded per round


class Proposer(Protocol):
    name: str
    model: str

    def propose(self, ctx: RoundContext) -> Proposal: ...
