"""Live LF statistics on a run config's data for the web app.

The dataset (and, for exemplar / neighbor LFs, the embeddings) is loaded once per app; LF statistics are
computed with the project's applier and :func:`labeling_functions.analysis.lf_summary`, and remembered by
the exact content of the LFs measured, so a change to the store (from the app or the CLI) is a new key,
never a stale answer. Sample hits come from :func:`tagger.lf_tools.measure`.
"""
from __future__ import annotations

import hashlib
import threading

import numpy as np
import pandas as pd

from labeling_functions import ABSTAIN
from labeling_functions.spec import LFSpec

LIVE_STATUSES = ("proposed", "active")  # the LFs that could train: conflicts are measured among these


class Bench:
    def __init__(self, cfg):
        self.cfg = cfg
        self._lock = threading.Lock()
        self._ds = None
        self._emb = None
        self._memo: dict[str, tuple] = {}

    def dataset(self):
        with self._lock:
            if self._ds is None:
                try:
                    from tagger.dataset import load_dataset  # never opens gold_test
                except ImportError:
                    from tagger.pipeline import load_dataset

                self._ds = load_dataset(self.cfg)
            return self._ds

    @property
    def tags(self) -> list[str]:
        return list(self.dataset().tags)

    def _embeddings(self):
        ds = self.dataset()
        with self._lock:
            if self._emb is None:
                from tagger.dataset import pool_reference
                from tagger.pipeline import make_encoder

                enc = make_encoder(self.cfg)
                pool_emb, dev_emb = enc(ds.pool["text"].tolist()), enc(ds.gold_dev["text"].tolist())
                self._emb = (enc, pool_emb, dev_emb, pool_reference(self.cfg, ds, pool_emb))
            return self._emb

    def matrices(self, specs: list[LFSpec]) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Pool and gold_dev vote matrices of ``specs`` and their ``lf_summary`` (memoized by content)."""
        key = hashlib.sha256("\n".join(s.model_dump_json() for s in specs).encode()).hexdigest()
        if key in self._memo:
            return self._memo[key]
        from labeling_functions.analysis import lf_summary
        from labeling_functions.apply import apply_lfs, compile_lfs

        ds = self.dataset()
        enc = pool_emb = dev_emb = ref = None
        if any(s.kind in ("exemplar", "neighbor") for s in specs):
            enc, pool_emb, dev_emb, ref = self._embeddings()
        specs = [s for s in specs if s.tag in set(ds.tags)]
        comp = compile_lfs(specs, ds.tags, embed=enc, reference=ref)
        Lp, Ld = apply_lfs(ds.pool, comp, pool_emb), apply_lfs(ds.gold_dev, comp, dev_emb)
        index = {t: i for i, t in enumerate(ds.tags)}
        summary = lf_summary(Lp, specs, ds.tags, Y=ds.gold_dev["tag"].map(index).to_numpy(), L_dev=Ld)
        out = (Lp, Ld, summary)
        with self._lock:
            if len(self._memo) > 8:
                self._memo.clear()
            self._memo[key] = out
        return out

    def store_stats(self, specs: list[LFSpec]) -> pd.DataFrame:
        """coverage, overlaps, conflicts, hits, dev_precision per LF; conflicts among the proposed and
        active LFs of the store (rejected and retired ones get their own numbers, measured alone)."""
        live = [s for s in specs if s.status in LIVE_STATUSES]
        rest = [s for s in specs if s.status not in LIVE_STATUSES]
        frames = [self.matrices(live)[2]] if live else []
        frames += [self.matrices(rest)[2].assign(overlaps=np.nan, conflicts=np.nan)] if rest else []
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id"])

    def conflicts_of(self, specs: list[LFSpec], lf_id: str, n: int = 10) -> list[dict]:
        """The LFs that vote another tag on the pool tickets where ``lf_id`` fires, with counts."""
        live = [s for s in specs if s.status in LIVE_STATUSES or s.id == lf_id]
        Lp, _, summary = self.matrices(live)
        ids = summary["id"].tolist()
        if lf_id not in ids:
            return []
        j = ids.index(lf_id)
        fired = Lp[:, j] != ABSTAIN
        other = (Lp != ABSTAIN) & fired[:, None] & (Lp != Lp[:, [j]])
        counts = other.sum(axis=0)
        rows = [{"id": ids[k], "tag": summary["tag"][k], "status": summary["status"][k], "tickets": int(c)}
                for k, c in enumerate(counts) if c and k != j]
        return sorted(rows, key=lambda r: -r["tickets"])[:n]

    def ticket_texts(self, ticket_ids: list[str]) -> dict[str, str]:
        ds = self.dataset()
        out = {}
        for frame in (ds.gold_dev, ds.pool):
            hit = frame[frame["ticket_id"].astype(str).isin([str(t) for t in ticket_ids])]
            for tid, text in zip(hit["ticket_id"], hit["text"]):
                out.setdefault(str(tid), text)
        return out
