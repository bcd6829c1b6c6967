"""Batch tagging with a saved model directory."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data.io import Source, load_tickets, write_table
from data.schema import IngestLimits
from models.end_model import TaggerModel


def model_limits(model: TaggerModel) -> IngestLimits:
    i = model.info
    return IngestLimits(max_chars=i.max_chars, mask_pii=i.mask_pii, speakers=tuple(i.speakers))


def tag_frame(model: TaggerModel, tickets: pd.DataFrame, batch_size: int = 64, progress: bool = False) -> pd.DataFrame:
    """``ticket_id, tag, confidence, second_tag, second_confidence`` for normalized tickets."""
    if tickets.empty:
        return pd.DataFrame(columns=["ticket_id", "tag", "confidence", "second_tag", "second_confidence"])
    P = model.predict_proba(tickets["text"].tolist(), batch_size=batch_size, progress=progress)
    order = np.argsort(-P, axis=1)
    tags = np.asarray(model.tags, dtype=object)
    second = order[:, 1] if P.shape[1] > 1 else order[:, 0]
    rows = np.arange(len(P))
    return pd.DataFrame({
        "ticket_id": tickets["ticket_id"].to_numpy(), "tag": tags[order[:, 0]],
        "confidence": P[rows, order[:, 0]].round(6), "second_tag": tags[second],
        "second_confidence": P[rows, second].round(6)})


DEFAULT_PRECISION = "int8"  # the fast path (models/int8.py); benchmarks/run.py measures speed and macro-F1


def tag_file(model_dir: str | Path, source: Source, output: str | Path, batch_size: int = 64,
             progress: bool = False, precision: str = DEFAULT_PRECISION,
             bom: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, Path | None]:
    """Tag a file (or SQL source) and write the tags; quarantined rows go to ``OUTPUT.quarantine.csv``
    (``bom``: CSVs start with a UTF-8 byte-order mark, for Excel)."""
    model = TaggerModel.load(model_dir, precision=precision)
    tickets, quarantine = load_tickets(source, model_limits(model))
    out = tag_frame(model, tickets, batch_size, progress)
    write_table(out, output, bom=bom)
    qpath = None
    if len(quarantine):
        qpath = Path(str(output) + ".quarantine.csv")
        write_table(quarantine, qpath, bom=bom)
    return out, quarantine, qpath
