"""Per-tag votes of the text LFs (keyword and regex): the part of an LF set a trained model can carry
and apply to new tickets on its own, with no embeddings, operator tags or label model."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from labeling_functions.spec import LFSpec

TEXT_KINDS = ("keyword", "regex")


def text_lfs(specs: Sequence[LFSpec]) -> list[LFSpec]:
    return [s for s in specs if s.kind in TEXT_KINDS]


def tag_votes(L: np.ndarray, specs: Sequence[LFSpec], tags: Sequence[str]) -> np.ndarray:
    """``tickets x tags`` float32: 1 where at least one text LF of the tag fired in ``L`` (columns = ``specs``)."""
    index = {t: i for i, t in enumerate(tags)}
    V = np.zeros((L.shape[0], len(tags)), dtype=np.float32)
    for j, s in enumerate(specs):
        if s.kind in TEXT_KINDS:
            V[L[:, j] != -1, index[s.tag]] = 1.0
    return V


def text_votes(texts: Sequence[str], specs: Sequence[LFSpec], tags: Sequence[str]) -> np.ndarray:
    """:func:`tag_votes` of the text LFs in ``specs`` applied to raw ``texts``."""
    from labeling_functions.apply import apply_lfs, compile_lfs

    specs = text_lfs(specs)
    df = pd.DataFrame({"ticket_id": [str(i) for i in range(len(texts))], "text": list(texts)})
    return tag_votes(apply_lfs(df, compile_lfs(specs, tags)), specs, tags) if specs else \
        np.zeros((len(texts), len(tags)), dtype=np.float32)
