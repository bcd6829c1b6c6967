"""Settings of the rule-generation loop and its LLM backend, defined once here and composed into the
run config (``tagger/config.py``)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GateConfig(_Strict):
    """The gate an LF must pass to enter (:func:`llm_rulegen.gate.gate_lfs`), measured on the gating half."""
    min_precision: float = Field(0.75, ge=0, le=1, description="dev precision on the gating half, at least")
    min_support: int = Field(2, ge=1, description="dev hits on the gating half, at least")
    max_coverage: float = Field(0.3, gt=0, le=1, description="share of the pool it fires on, at most")
    max_jaccard: float = Field(0.9, gt=0, le=1, description="overlap of its pool hits with an existing LF of the "
                               "same tag, at most (above it is a duplicate)")
    allowed_kinds: tuple[Literal["keyword", "regex", "exemplar", "metadata", "neighbor"], ...] = (
        "keyword", "regex", "exemplar")
    accept_status: Literal["proposed", "active"] = Field(
        "proposed", description="status of an accepted LF; the run config sets it from refine.mode")


class LoopConfig(_Strict):
    """Rounds and budgets of the refinement loop (:func:`llm_rulegen.loop.run_loop`)."""
    max_rounds: int = Field(5, ge=0)
    patience: int = Field(2, ge=0, description="stop after this many rounds without a better selection-half score")
    max_seconds: float = Field(1200, gt=0)
    max_tokens: int = Field(2_000_000, ge=0)
    max_cost_usd: float = Field(5.0, ge=0)
    max_new_per_tag: int = Field(2, ge=1)
    max_tags_per_round: int | None = Field(None, ge=1, description="send only the worst tags (by gating-half F1) "
                                           "per round; None sends every tag with errors")
    min_improvement: float = Field(0.001, ge=0, description="a round is better only by more than this (macro-F1)")
    focus_tags: list[str] | None = Field(None, description="send only these tags to the proposer, errors or not "
                                         "(a new tag's cold start: `tagger tags add`); None sends every tag with errors")


class Price(_Strict):
    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)


class OpenAISettings(_Strict):
    """OpenAI-compatible chat-completions endpoint; key and URL come from OPENAI_API_KEY / OPENAI_BASE_URL."""
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    timeout_s: float = Field(60, gt=0, description="limit of each connect or read of one HTTP attempt")
    deadline_s: float = Field(300, gt=0, description="overall limit of one HTTP attempt, however the server "
                              "paces its bytes; a passed deadline counts as a timeout and is retried")
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    max_output_tokens: int = Field(2000, gt=0)
    max_reply_chars: int = Field(100_000, gt=0)
    structured_output: bool = True
    temperature: float = Field(0.0, ge=0, le=2)
    tags_per_request: int = Field(6, ge=1)
    examples_per_tag: int = Field(4, ge=0)
    errors_per_tag: int = Field(6, ge=0)
    cache: bool = True
    batch_dir: str | None = Field(None, description="batch (air-gapped) mode: requests are written to this folder as "
                                  "Batch API input files and replies imported from it, instead of HTTP calls")
    batch_discount: float = Field(0.5, ge=0, le=1, description="price factor of batch requests (the Batch API halves it)")
    prices: dict[str, Price] = {"gpt-4o-mini": Price(input_per_1m=0.15, output_per_1m=0.60),
                                "gpt-4o": Price(input_per_1m=2.50, output_per_1m=10.0)}
