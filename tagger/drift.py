"""Drift watch: do the LFs and the champion still fit the tickets that arrive?

Tickets are cut into windows by ``created_at`` (``DriftSettings.window``: a pandas frequency, monthly by
default). Each window is compared with the reference window (the first, or the one that starts at
``DriftSettings.reference``) on:

- ``tag_mix_psi`` and ``tag_mix_chi2_p``: the champion's predicted tag mix (``models/drift.py``);
- ``confidence_ks`` and ``needs_review_share``: the champion's top-tag confidence, and the share below
  the review threshold;
- ``domain_auc``: how well a linear classifier tells the window's embeddings from the reference's;
- ``lf_shift_share`` and ``top_shifted``: LFs whose firing rate halved or doubled;
- ``conflict_rate``, ``abstain_rate``, ``uncovered_by_rules`` (``labeling_functions/drift.py``).

A statistic past its threshold (``DriftThresholds``) is an alert. ``tagger drift`` and the
``drift_watch`` DAG store one row per window in the ``drift_reports`` table and write a page.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from labeling_functions.apply import apply_lfs, compile_lfs
from labeling_functions.drift import firing_rates, rate_shift, window_lf_stats
from labeling_functions.spec import LFSpec
from models.drift import chi2_pvalue, confidence_shift, domain_auc, psi

log = logging.getLogger("tagger.drift")

TEXT_FREE_KINDS = ("neighbor",)  # need the labelled pool as a reference: not applied to new windows


class DriftThresholds(BaseModel):
    """A window alerts when any statistic passes its threshold (increases are against the reference)."""
    model_config = ConfigDict(extra="forbid")
    tag_mix_psi: float = Field(0.2, ge=0, description="PSI of the predicted tag mix (0.1-0.25 is a moderate shift)")
    tag_mix_p: float = Field(0.001, gt=0, le=1, description="the tag mix and the confidences alert only when their "
                             "test (chi-square, KS) is also below this p-value: a small window's PSI and KS are noisy")
    domain_auc: float = Field(0.75, ge=0.5, le=1, description="cross-validated AUC telling the window from the reference")
    lf_shift_share: float = Field(0.2, ge=0, le=1, description="share of LFs whose firing rate halved or doubled")
    confidence_ks: float = Field(0.15, ge=0, le=1, description="KS distance of the champion's confidences")
    needs_review_increase: float = Field(0.1, ge=0, le=1, description="rise of the share below the review threshold")
    uncovered_increase: float = Field(0.1, ge=0, le=1, description="rise of the share no text rule covers")
    conflict_increase: float = Field(0.1, ge=0, le=1, description="rise of the share where sources disagree")


class DriftSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: str = Field("M", description="pandas period of the windows: M (months), W (weeks from Monday), D (days)")
    reference: str | None = Field(None, description="start of the reference window (ISO date); empty: the first window")
    min_tickets: int = Field(100, ge=10, description="a window with fewer tickets is reported but never alerts")
    webhook_url: str | None = Field(None, description="alerts are POSTed here as JSON when set")
    thresholds: DriftThresholds = DriftThresholds()

    @field_validator("window")
    @classmethod
    def _period(cls, v: str) -> str:
        try:
            pd.Period("2026-01-01", freq=v)
        except ValueError as e:
            raise ValueError(f"window {v!r} is not a pandas period (M, W, D, ...): {e}") from None
        return v


def windows(tickets: pd.DataFrame, freq: str) -> pd.Series:
    """Start of each ticket's window; a ticket without a parsable ``created_at`` is an error naming it."""
    when = pd.to_datetime(tickets["created_at"], errors="coerce", utc=True)
    bad = when.isna()
    if bad.any():
        ids = tickets.loc[bad, "ticket_id"].astype(str).head(5).tolist()
        raise ValueError(f"{int(bad.sum())} tickets have no usable created_at (e.g. {', '.join(ids)}): drift watch "
                         "needs the time each ticket was opened")
    return when.dt.tz_localize(None).dt.to_period(freq).dt.start_time


def window_stats(P: np.ndarray, L: np.ndarray, specs: Sequence[LFSpec], review_threshold: float) -> dict:
    """What one window's numbers are (before any comparison)."""
    conf = P.max(axis=1)
    return {**window_lf_stats(L, specs), "needs_review_share": float((conf < review_threshold).mean()),
            "mean_confidence": float(conf.mean())}


def compare(ref: dict, cur: dict, specs: Sequence[LFSpec], s: DriftSettings) -> dict:
    """The statistics of window ``cur`` against ``ref`` (each: ``P``, ``L``, ``emb``, ``stats``) and its alerts."""
    k = ref["P"].shape[1]
    mix_r, mix_c = (np.bincount(w["P"].argmax(1), minlength=k) for w in (ref, cur))
    shift = rate_shift(firing_rates(ref["L"]), firing_rates(cur["L"]), specs, len(ref["L"]), len(cur["L"]))
    ks, ks_p = confidence_shift(ref["P"].max(1), cur["P"].max(1))
    out = {**cur["stats"], "tag_mix_psi": psi(mix_r, mix_c), "tag_mix_chi2_p": chi2_pvalue(mix_r, mix_c),
           "confidence_ks": ks, "confidence_ks_p": ks_p,
           "domain_auc": domain_auc(ref["emb"], cur["emb"]) if min(len(ref["emb"]), len(cur["emb"])) >= 10 else 0.5,
           **shift}
    t, r = s.thresholds, ref["stats"]
    checks = {"tag_mix_psi": out["tag_mix_psi"] > t.tag_mix_psi and out["tag_mix_chi2_p"] < t.tag_mix_p,
              "domain_auc": out["domain_auc"] > t.domain_auc,
              "lf_shift_share": out["lf_shift_share"] > t.lf_shift_share,
              "confidence_ks": out["confidence_ks"] > t.confidence_ks and ks_p < t.tag_mix_p,
              "needs_review_share": out["needs_review_share"] - r["needs_review_share"] > t.needs_review_increase,
              "uncovered_by_rules": out["uncovered_by_rules"] - r["uncovered_by_rules"] > t.uncovered_increase,
              "conflict_rate": out["conflict_rate"] - r["conflict_rate"] > t.conflict_increase}
    enough = cur["stats"]["tickets"] >= s.min_tickets
    out["alerts"] = [name for name, hit in checks.items() if hit] if enough else []
    out["alert"] = bool(out["alerts"])
    return out


def drift_watch(tickets: pd.DataFrame, model, specs: Sequence[LFSpec], s: DriftSettings,
                review_threshold: float = 0.5, embed_batch: int = 64) -> list[dict]:
    """One report per window of ``tickets`` (``ticket_id``, ``text``, ``created_at``, operator and metadata
    columns as ingest makes them) against the reference window, for ``model`` (a loaded ``TaggerModel``)
    and ``specs`` (the LFs in use; ``neighbor`` LFs are left out: they need the labelled pool); a ticket
    below ``review_threshold`` confidence counts as needing review, as in batch tagging."""
    if tickets.empty:
        raise ValueError("no tickets to watch")
    specs = [sp for sp in specs if sp.kind not in TEXT_FREE_KINDS and sp.tag in model.tags]
    start = windows(tickets, s.window)
    starts = sorted(start.unique())
    ref_start = pd.Timestamp(s.reference) if s.reference else starts[0]
    if ref_start not in set(starts):
        raise ValueError(f"no tickets in the reference window starting {ref_start.date()} "
                         f"(windows: {', '.join(str(x.date()) for x in starts)})")
    comp = compile_lfs(specs, model.tags, embed=lambda texts: model.embed(texts, embed_batch))
    per: dict[pd.Timestamp, dict] = {}
    for w in starts:
        frame = tickets[(start == w).to_numpy()].reset_index(drop=True)
        emb = model.embed(frame["text"].tolist(), embed_batch)
        P, L = model.proba(frame["text"].tolist(), emb), apply_lfs(frame, comp, emb)
        per[w] = {"P": P, "L": L, "emb": emb, "stats": window_stats(P, L, specs, review_threshold)}
        log.info("drift: window %s, %d tickets", w.date(), len(frame))
    rows = []
    for w in starts:
        rep = compare(per[ref_start], per[w], specs, s)
        rows.append({"window_start": str(w.date()), "reference_start": str(ref_start.date()), "window": s.window,
                     **{k: v for k, v in rep.items() if k not in ("top_shifted", "alerts")},
                     "alerts": ",".join(rep["alerts"]), "top_shifted": json.dumps(rep["top_shifted"])})
        if rep["alert"]:
            log.warning("drift alert: window %s against %s: %s", w.date(), ref_start.date(), ", ".join(rep["alerts"]))
    return rows


def alert_lines(s: DriftSettings, reference_row: dict) -> dict[str, float]:
    """Where each plotted statistic alerts (increases are drawn from the reference window's value)."""
    t = s.thresholds
    return {"tag_mix_psi": t.tag_mix_psi, "domain_auc": t.domain_auc, "lf_shift_share": t.lf_shift_share,
            "confidence_ks": t.confidence_ks,
            "needs_review_share": reference_row["needs_review_share"] + t.needs_review_increase,
            "uncovered_by_rules": reference_row["uncovered_by_rules"] + t.uncovered_increase}


def write_drift_page(rows: list[dict], s: DriftSettings, path, model_version: str) -> None:
    """A self-contained HTML page: the statistics over time (``models.plots.plot_drift``) and the table."""
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader

    from data.atomic import atomic_write_text
    from models.plots import plot_drift
    from tagger.report_format import png_image

    frame = pd.DataFrame(rows)
    ref = next(r for r in rows if r["window_start"] == r["reference_start"])
    plot = png_image(plot_drift(frame, alert_lines(s, ref)), "drift-watch statistics per window")
    cols = ["window_start", "tickets", "alerts", "tag_mix_psi", "tag_mix_chi2_p", "domain_auc", "lf_shift_share",
            "confidence_ks", "needs_review_share", "uncovered_by_rules", "conflict_rate", "abstain_rate"]
    show = [{**{c: (f"{r[c]:.3g}" if isinstance(r[c], float) else r[c]) for c in cols}, "alert": r["alert"],
             "shifted": json.loads(r["top_shifted"])} for r in rows]
    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=True)
    html = env.get_template("drift.html").render(rows=show, columns=cols, plot=plot, window=s.window,
                                                 reference=ref["reference_start"], model_version=model_version,
                                                 min_tickets=s.min_tickets, alerts=sum(r["alert"] for r in rows))
    atomic_write_text(Path(path), html)


def post_alerts(url: str, rows: list[dict], model_version: str, timeout: float = 10.0) -> int:
    """POST the alerting windows to ``url`` as one JSON document; returns the HTTP status. A failed POST
    raises with the URL named (the rows are stored before it is tried)."""
    import urllib.request

    body = json.dumps({"source": "tagger drift watch", "model_version": model_version,
                       "alerts": [{k: r[k] for k in ("window_start", "reference_start", "alerts", "tickets")}
                                  for r in rows if r["alert"]]}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except OSError as e:
        raise RuntimeError(f"drift alert webhook {url} failed: {e}") from e


def run_drift(tickets: pd.DataFrame, model_dir, specs: Sequence[LFSpec], s: DriftSettings, model_version: str,
              db_url: str | None = None, page=None, precision: str = "int8", review_threshold: float = 0.5) -> list[dict]:
    """Drift watch end to end: the windows' reports, stored in ``drift_reports`` (``db_url``), the page
    written (``page``), and the alerts POSTed to ``s.webhook_url``."""
    from models.end_model import TaggerModel

    rows = drift_watch(tickets, TaggerModel.load(model_dir, precision=precision), specs, s, review_threshold)
    if db_url:
        from data.warehouse import store_drift_reports

        store_drift_reports(db_url, rows, model_version)
    if page:
        write_drift_page(rows, s, page, model_version)
    if s.webhook_url and any(r["alert"] for r in rows):
        post_alerts(s.webhook_url, rows, model_version)
    return rows
