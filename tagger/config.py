"""Run configuration (YAML), validated with pydantic; errors name the bad field.

Relative paths, and relative ``sqlite:///`` URLs, are resolved against the config file's folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, ValidationError, field_validator, model_validator

from data.io import SQLSource
from labeling_functions.settings import ExemplarLFConfig, LabelModelConfig
from llm_rulegen.settings import GateConfig, LoopConfig, OpenAISettings, Price  # noqa: F401  (Price: part of the config's API)
from models.encoder import EncoderConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SQLSourceConfig(_Strict):
    url: str
    table: str | None = None
    query: str | None = None
    turns_query: str | None = None

    @model_validator(mode="after")
    def _one_of(self):
        if bool(self.table) == bool(self.query):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self

    def to_source(self) -> SQLSource:
        return SQLSource(url=self.url, table=self.table, query=self.query, turns_query=self.turns_query)


class DemoGenerateConfig(_Strict):
    """Generate the demo support database into the dataset folder when its files are missing."""
    out_dir: str
    n_pool: int = Field(2400, ge=24)
    n_test_per_tag: int = Field(40, ge=1)
    n_dev_per_tag: int = Field(10, ge=2)
    seed: int = 7
    lang: Literal["en", "ru"] = Field("en", description="en: a retail bank in English; ru: a small-business bank "
                                      "in Russian, with Russian PII")


class DatasetConfig(_Strict):
    pool: str | SQLSourceConfig
    gold_dev: str
    gold_test: str
    tags: str
    use_operator_tags: bool = True
    generate_demo: DemoGenerateConfig | None = None
    language: str = Field("English", description="the tickets' language: the LLM prompts ask for LFs in it, and a "
                          "run warns when it is not English but the encoder is the packaged (English) MiniLM")


class IngestConfig(_Strict):
    max_chars: int = Field(20000, gt=0)
    max_turns: int = Field(200, gt=0)
    mask_pii: bool = True
    speakers: list[Literal["customer", "operator"]] = ["customer", "operator"]


class NeighborLFConfig(_Strict):
    """k-NN vote of the operator tags of the most similar pool tickets (needs operator tags)."""
    enabled: bool = True
    k: int = Field(10, ge=1, le=200)
    min_share: float = Field(0.5, gt=0, le=1)
    max_reference: int | None = Field(
        20000, gt=0, description="the neighbours are looked up among a seeded sample of at most this many pool "
        "tickets: the search costs (pool x reference) similarities, which at 100,000 tickets against the whole pool "
        "took about 5 minutes here and grows with the square of the pool; empty: the whole pool")


class LFConfig(_Strict):
    operator_tags: bool = True
    neighbor: NeighborLFConfig = NeighborLFConfig()
    exemplar: ExemplarLFConfig = ExemplarLFConfig()
    spec_dirs: list[str] = []
    statuses: list[Literal["active", "proposed"]] = ["active"]


class HeadConfig(_Strict):
    """Linear softmax head on frozen embeddings: mean soft-label cross-entropy + l2/2 * ||W||^2 (L-BFGS)."""
    l2: float = Field(1e-5, ge=0)
    max_iter: int = Field(500, gt=0)


class FinetuneConfig(_Strict):
    epochs: int = Field(2, gt=0)
    lr: float = Field(3e-5, gt=0)
    batch_size: int = Field(32, gt=0)
    warmup_ratio: float = Field(0.06, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)


class SelectConfig(_Strict):
    """Choose the training recipe by K-fold cross-validation on gold_dev (never gold_test)."""
    enabled: bool = True
    folds: int = Field(5, ge=2, le=10)
    holdout: Literal["unseen", "all"] = Field(
        "unseen", description="which gold_dev tickets a CV fold may score: 'unseen' leaves out every ticket an LF "
        "proposer or gate has seen (the refinement loop's gating half, tickets cited in LF provenance), so LFs "
        "written from a ticket never score it; 'all' scores every ticket (optimistic with generated LFs)")
    gold_dev_weights: list[float] = [1.0, 5.0, 20.0]
    include_dev_only: bool = True
    min_confidences: list[float] = Field([0.0, 0.5], description="also try each weak recipe keeping only weak labels "
                                         "whose top probability reaches each value")
    prune_noisy: bool = Field(True, description="also try each weak recipe without the weak labels that confident "
                              "learning flags as likely wrong (out-of-fold head predictions)")
    prune_folds: int = Field(3, ge=2, le=10, description="folds of the out-of-fold predictions behind prune_noisy "
                             "(each fold head trains on the other folds' weak labels; 3 heads on two thirds cost "
                             "half of 5 on four fifths)")
    self_train: bool = Field(True, description="also try each recipe with self-training on the unlabeled pool")
    self_train_rounds: int = Field(5, ge=1, le=10)
    self_train_min_confidence: float = Field(0.5, ge=0, le=1)
    self_train_labels: Literal["hard", "soft"] = Field("hard", description="pseudo-labels: one-hot argmax or the head's probabilities")
    lf_boosts: list[float] = Field([0.0], description="also try each self-training recipe with these LF-vote logit "
                                   "bonuses: the keyword/regex LFs of a tag that fire on a ticket add this much to the "
                                   "tag's logit, in the pseudo-labels and at prediction (the model carries the LFs)")
    self_train_min_unlabeled: float = Field(0.05, ge=0, le=1, description="skip self-training variants of weak recipes "
                                            "when less than this share of the pool has no weak label")
    pool_sample: int | None = Field(
        5000, gt=0, description="recipe CV runs on a seeded sample of at most this many pool tickets: its heads, each "
        "fold's label model and its confident learning (the final model trains on the whole pool); empty: the whole pool")
    drop_after: int = Field(2, ge=1, description="racing: after this many folds, and after each later one, drop the "
                            "recipes whose mean fold score so far trails the best by more than drop_margin")
    drop_margin: float | None = Field(0.03, ge=0, description="macro-F1 behind the best mean (over the same folds) at "
                                      "which a recipe stops being cross-validated; empty: every recipe runs every fold")
    logit_adjust: list[NonNegativeFloat] = Field(
        [0.0, 1.0], min_length=1, description="also try each recipe with its head's bias less this multiple of the "
        "log share of each tag in its training labels (logit adjustment; frozen mode only): 1 aims at the balanced "
        "error, so tags with few weak labels, such as newly added ones, are not out-voted by their prior; the "
        "variants share their recipe's head, so they cost no training")
    features: list[Literal["embedding", "embedding+char"]] = Field(
        ["embedding", "embedding+char"], min_length=1,
        description="head feature sets to try with every recipe; embedding+char (frozen mode only) appends the "
                    "char n-gram LSA block of end_model.lexical")


class LexicalConfig(_Strict):
    """Char n-gram TF-IDF reduced by truncated SVD, appended to the embedding (models/lexical.py)."""
    ngram_min: int = Field(3, ge=1)
    ngram_max: int = Field(5, ge=1)
    max_features: int = Field(4000, gt=0)
    min_df: int = Field(3, ge=1)
    n_components: int = Field(256, gt=0)
    weight: float = Field(0.5, gt=0, description="scale of the block relative to the unit-norm embedding")
    fit_max_texts: int = Field(20000, gt=0, description="fit on a seeded sample of at most this many pool texts "
                               "(20,000 fit in 6-8 s against 15 s for 50,000 on a 2-core CPU)")

    @model_validator(mode="after")
    def _range(self):
        if self.ngram_min > self.ngram_max:
            raise ValueError("lexical.ngram_min must not exceed ngram_max")
        return self


class EndModelConfig(_Strict):
    mode: Literal["frozen", "finetune"] = "frozen"
    max_length: int = Field(128, gt=8, le=512)
    batch_size: int = Field(64, gt=0)
    encoder: EncoderConfig = Field(EncoderConfig(), description="the packaged MiniLM-L6 (English) by default, or a "
                                   "local encoder directory: path, pooling")
    head: HeadConfig = HeadConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    gold_dev_weight: float = Field(1.0, ge=0, description="weight of gold_dev tickets when select is off; 0 = off")
    features: Literal["embedding", "embedding+char"] = Field("embedding", description="head features when select is off")
    lexical: LexicalConfig = LexicalConfig()
    select: SelectConfig = SelectConfig()
    aux_sample: int | None = Field(
        20000, gt=0, description="the heads other than the final model and recipe CV's (confident learning's fold heads "
        "in the final training, the pool baselines) train on a seeded sample of at most this many pool tickets, and the "
        "refinement loop runs on it (its LFs' votes, label model, per-round model, miner and gate); empty: the whole pool")
    min_confidence: float = Field(0.0, ge=0, le=1, description="drop training tickets whose top label prob is below")

    @model_validator(mode="after")
    def _finetune_features(self):
        if self.mode == "finetune" and not self.select.enabled and self.features != "embedding":
            raise ValueError("end_model.features: embedding+char needs mode: frozen (the fine-tuned "
                             "classifier reads the encoder only)")
        if self.mode == "finetune" and self.select.enabled and "embedding" not in self.select.features:
            raise ValueError("end_model.select.features must include embedding in mode: finetune "
                             "(embedding+char needs mode: frozen)")
        return self


class EvaluationConfig(_Strict):
    baselines: list[Literal["gold_dev", "operator", "majority_vote"]] = ["gold_dev", "operator", "majority_vote"]


class RefineSettings(LoopConfig):
    """The LF refinement loop (llm_rulegen): the loop's own settings (:class:`llm_rulegen.settings.LoopConfig`)
    plus the proposer, the gate and how the run uses the result."""
    enabled: bool = False
    backend: Literal["miner", "openai"] = "miner"
    mode: Literal["auto", "review"] = Field("auto", description="accepted LFs enter as active (auto) or proposed")
    keep_round: Literal["best", "last"] = Field(
        "best", description="which round's LFs the run trains on: the best on the selection half (weak labels "
        "alone), or the last (every LF the gate admitted), for recipes that use LFs beyond the weak labels "
        "(the LF-vote bonus); recipe selection stays honest either way")
    miner_max_coverage: float = Field(0.2, gt=0, le=1, description="the offline miner proposes only rules that "
                                      "cover at most this share of the pool (and never above gate.max_coverage), so mined "
                                      "keyword rules stay narrower than the gate allows an LLM's")
    gate: GateConfig = GateConfig()
    openai: OpenAISettings = OpenAISettings()


class RunConfig(_Strict):
    name: str
    seed: int = 0
    output_dir: str = "../runs"
    cache_dir: str = "../.cache"
    dataset: DatasetConfig
    ingest: IngestConfig = IngestConfig()
    lfs: LFConfig = LFConfig()
    label_model: LabelModelConfig = LabelModelConfig()
    end_model: EndModelConfig = EndModelConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    refine: RefineSettings = RefineSettings()
    config_path: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or any(c in v for c in "/\\ "):
            raise ValueError("name must be non-empty with no slashes or spaces")
        return v


class ConfigError(ValueError):
    pass


def _resolve(base: Path, p: str) -> str:
    return str(p) if Path(p).is_absolute() else str((base / p).resolve())


def _resolve_url(base: Path, url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + _resolve(base, url[len(prefix):])
    return url


def resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    d = cfg.dataset
    for f in ("gold_dev", "gold_test", "tags"):
        setattr(d, f, _resolve(base, getattr(d, f)))
    if isinstance(d.pool, str):
        d.pool = _resolve(base, d.pool)
    else:
        d.pool.url = _resolve_url(base, d.pool.url)
    if d.generate_demo:
        d.generate_demo.out_dir = _resolve(base, d.generate_demo.out_dir)
    cfg.lfs.spec_dirs = [_resolve(base, p) for p in cfg.lfs.spec_dirs]
    if cfg.refine.openai.batch_dir:
        cfg.refine.openai.batch_dir = _resolve(base, cfg.refine.openai.batch_dir)
    if cfg.end_model.encoder.path:
        cfg.end_model.encoder.path = _resolve(base, cfg.end_model.encoder.path)
    cfg.output_dir = _resolve(base, cfg.output_dir)
    cfg.cache_dir = _resolve(base, cfg.cache_dir)
    return cfg


def load_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    """Load and validate a YAML config; raise :class:`ConfigError` naming the bad field."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = value
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as e:
        lines = [f"{path}: invalid config"]
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    cfg.config_path = str(path.resolve())
    return resolve_paths(cfg, path.resolve().parent)
