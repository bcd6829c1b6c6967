"""Settings of the weak labeler, defined once here and composed into the run config (``tagger/config.py``)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExemplarLFConfig(_Strict):
    """Exemplar LFs: per tag, the gold_dev examples' embedding centroid with a similarity threshold."""
    enabled: bool = True
    min_precision: float = Field(0.7, ge=0, le=1)
    min_support: int = Field(3, ge=1)
    thresholds: list[float] = [0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5]


class LabelModelConfig(_Strict):
    """The aggregator of the LF votes (labeling_functions/label_model.py)."""
    kind: Literal["snorkel", "majority_vote"] = "snorkel"
    n_epochs: int = Field(500, gt=0)
    lr: float = Field(0.01, gt=0)
    l2: float = Field(0.0, ge=0)
    blas_threads: int = Field(1, ge=1)
    seed: int = 123
    seed_precision_bounds: tuple[float, float] = Field(
        (0.5, 0.99), description="the per-family gold_dev precisions that seed the label model are clipped to this "
        "range: at least a coin flip (a family below it would be read as adversarial), and never certain")
    class_prior: Literal["operator_tags", "uniform"] = Field(
        "operator_tags", description="the label model's class balance: the operator tags' shares (Laplace-smoothed; "
        "uniform without operator tags), or uniform. The operator shares understate a tag the operators have not "
        "adopted yet, such as one added with `tagger tags add`: its tickets then lose every close call to the old "
        "tags they were filed under")
