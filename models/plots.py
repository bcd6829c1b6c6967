"""Every plot of a run, drawn in one place: the PNG files a run writes (``models.evaluate.plot_results``)
and the images ``tagger/report.py`` inlines in report.html. Each ``plot_*`` returns PNG bytes, saved
with ``bbox_inches="tight"`` so no tick label or legend is clipped; legends sit outside the data, score
axes are zoomed to the data and say so."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# one style per series: the run's model first (large filled dot), then the baselines (hollow markers)
SERIES_STYLES = [
    {"marker": "o", "color": "#1f4e9c", "s": 46, "facecolor": "#1f4e9c", "zorder": 4},
    {"marker": "s", "color": "#d1711c", "s": 30, "facecolor": "none", "zorder": 3},
    {"marker": "^", "color": "#2b8a3e", "s": 34, "facecolor": "none", "zorder": 3},
    {"marker": "D", "color": "#9c36b5", "s": 24, "facecolor": "none", "zorder": 3},
    {"marker": "v", "color": "#666666", "s": 30, "facecolor": "none", "zorder": 3},
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (tight bounding box: labels and outside legends are kept whole); closes it."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.12)
    _pyplot().close(fig)
    return buf.getvalue()


def zoomed_range(values, step: float = 0.05, margin: float = 0.02) -> tuple[float, float]:
    """Axis limits for scores in [0, 1] zoomed to the data: from just below the lowest value (rounded
    down to ``step``) to 1; from 0 when the data come close to it anyway."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[~np.isnan(v)]
    lo = float(np.floor((v.min() - margin) / step) * step) if len(v) else 0.0
    lo = 0.0 if lo < 0.15 else round(lo, 4)
    return lo, 1.0


def _zoom_note(lo: float) -> str:
    return f"axis zoomed to {lo:.2f}–1.00 (does not start at 0)" if lo > 0 else "axis from 0 to 1"


def plot_per_tag_f1(per_tag: pd.DataFrame, macro: dict[str, float] | None = None,
                    xlabel: str = "F1 on gold_test") -> bytes:
    """Dot plot of per-tag F1, one row per tag (lowest first, at the top), one marker per model.

    ``per_tag`` has the columns of :func:`per_tag_frame` (``model``, ``tag``, ``f1``, optional
    ``support``); its first model is the run's, the one rows are sorted by and whose F1 (and
    support) is printed at the right. The x-axis is zoomed to the data and says so; the legend sits
    above the plot, outside the data."""
    plt = _pyplot()
    from matplotlib.transforms import offset_copy

    names = list(dict.fromkeys(per_tag["model"]))
    per_tag = per_tag.assign(f1=pd.to_numeric(per_tag["f1"], errors="coerce"))
    wide = per_tag.drop_duplicates(["model", "tag"]).pivot(index="tag", columns="model", values="f1")[names]
    main = names[0]
    wide = wide.sort_values(main, ascending=True, kind="stable")
    support = (per_tag[per_tag["model"] == main].set_index("tag")["support"]
               if "support" in per_tag.columns else None)
    n = len(wide)
    fig, ax = plt.subplots(figsize=(8.6, max(2.6, 0.27 * n + 1.1)))
    y = np.arange(n)
    k = len(names)
    off = (np.arange(k) - (k - 1) / 2) * (0.56 / max(k, 1)) if k > 1 else np.zeros(1)
    for row in y:
        ax.axhline(row, color="#e4e4e4", lw=0.8, zorder=1)
    for i, name in enumerate(names):
        st = SERIES_STYLES[i % len(SERIES_STYLES)]
        lab = name + (f"  (macro-F1 {macro[name]:.3f})" if macro and name in macro else "")
        ax.scatter(wide[name].to_numpy(), y + off[i], marker=st["marker"], s=st["s"], edgecolors=st["color"],
                   facecolors=st["facecolor"], linewidths=1.3, zorder=st["zorder"], label=lab)
    lo, hi = zoomed_range(wide.to_numpy().ravel())
    ax.set_xlim(lo - 0.01 * (hi - lo), hi + 0.015 * (hi - lo))
    ax.set_ylim(n - 0.5, -0.5)  # lowest-scoring tag on top
    ax.set_yticks(y)
    ax.set_yticklabels(wide.index, fontsize=8 if n <= 40 else 7)
    ax.tick_params(axis="x", labelsize=8, top=n > 25, labeltop=n > 25)  # a long plot gets its scale on top too
    ax.grid(axis="x", color="#cccccc", lw=0.6, ls=":")
    ax.set_xlabel(f"{xlabel}  —  {_zoom_note(lo)}", fontsize=9)
    for row, (tag, v) in enumerate(wide[main].items()):
        n_tag = support.get(tag) if support is not None else None
        txt = f"{v:.3f}" + (f"  n={int(n_tag)}" if n_tag is not None and not pd.isna(n_tag) else "")
        ax.annotate(txt, xy=(1.0, row), xycoords=("axes fraction", "data"), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=7.5, color=SERIES_STYLES[0]["color"])
    lift = 16 if n > 25 else 2  # points above the axes: clear of the top tick labels
    ax.annotate(f"{main} F1", xy=(1.0, 1.0), xycoords="axes fraction", xytext=(6, lift + 1), textcoords="offset points",
                va="bottom", fontsize=7.5, color=SERIES_STYLES[0]["color"], fontweight="bold")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2 if k > 1 else 1, fontsize=8, frameon=False,
              borderaxespad=0.2, handletextpad=0.3, columnspacing=1.5,
              bbox_transform=offset_copy(ax.transAxes, fig=fig, y=lift, units="points"))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return figure_png(fig)


def confused_tags(cm: np.ndarray, max_tags: int = 16) -> list[int]:
    """Indices of the tags in the most confused pairs (by off-diagonal count both ways), at most ``max_tags``."""
    cm = np.asarray(cm, dtype=float)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    both = off + off.T
    iu = np.triu_indices(len(cm), k=1)
    order = np.argsort(-both[iu], kind="stable")
    picked: list[int] = []
    for o in order:
        if both[iu][o] <= 0:
            break
        for t in (int(iu[0][o]), int(iu[1][o])):
            if t not in picked and len(picked) < max_tags:
                picked.append(t)
        if len(picked) >= max_tags:
            break
    return sorted(picked)


def plot_confusion(cm, tags: Sequence[str], title: str = "Most confused tags (gold_test)",
                   max_tags: int = 16) -> bytes:
    """Heat map of the confusion matrix restricted to the tags of the most confused pairs. Colour
    shows only the mistakes (off-diagonal counts); the diagonal (correct) is grey with its count."""
    plt = _pyplot()
    cm = np.asarray(cm, dtype=float)
    tags = list(tags)
    top = confused_tags(cm, max_tags)
    if not top:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "No confusions: every ticket got its true tag.", ha="center", va="center", fontsize=10)
        return figure_png(fig)
    sub = cm[np.ix_(top, top)]
    off = sub.copy()
    np.fill_diagonal(off, np.nan)
    n = len(top)
    side = max(3.6, 0.42 * n + 1.6)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    cmap = plt.get_cmap("OrRd").with_extremes(bad="#eeeeee")
    vmax = max(1.0, float(np.nanmax(off)))
    im = ax.imshow(np.ma.masked_invalid(off), cmap=cmap, vmin=0, vmax=vmax)
    labels = [tags[i] for i in top]
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=40, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    for i in range(n):
        for j in range(n):
            v = int(sub[i, j])
            if i == j:
                ax.text(j, i, v, ha="center", va="center", fontsize=7.5, color="#777777", style="italic")
            elif v:
                ax.text(j, i, v, ha="center", va="center", fontsize=8, fontweight="bold",
                        color="white" if v > vmax * 0.6 else "black")
    ax.set_xlabel("predicted tag", fontsize=9)
    ax.set_ylabel("true tag", fontsize=9)
    ax.set_title(title, fontsize=10)
    cb = fig.colorbar(im, ax=ax, shrink=0.6, pad=0.02)
    cb.set_label("mistaken tickets (grey diagonal: correct)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    cb.locator = _int_locator()
    cb.update_ticks()
    return figure_png(fig)


def _int_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def plot_rounds(rounds: list[dict], best_round: int | None = None) -> bytes:
    """gold_dev macro-F1 of the weak labels per refinement round, on the gating and the selection half:
    integer round ticks, distinct markers and line styles (a hollow circle around a filled square, so
    equal values stay visible), the best round marked, the legend outside the data."""
    plt = _pyplot()
    r = [int(x["round"]) for x in rounds]
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    series = [("dev_gate_macro_f1", "gating half (seen by the proposer and the gate)",
               dict(marker="o", ms=10, mfc="none", mew=1.6, ls="-", lw=1.6, color="#d1711c")),
              ("dev_select_macro_f1", "selection half (never seen: picks the best round)",
               dict(marker="s", ms=5, ls="--", lw=1.6, color="#1f4e9c"))]
    vals = []
    for key, label, st in series:
        v = [x.get(key) for x in rounds]
        v = [np.nan if a is None else float(a) for a in v]
        vals += v
        ax.plot(r, v, label=label, **st)
    if best_round is not None and best_round in r:
        ax.axvline(best_round, color="#888888", ls=":", lw=1)
        ax.annotate(f"best round {best_round}", xy=(best_round, 0.0), xycoords=("data", "axes fraction"),
                    xytext=(-4, 4), textcoords="offset points", fontsize=8, color="#555555", ha="right")
    if len(r) <= 25:
        ax.set_xticks(r)
    else:
        ax.xaxis.set_major_locator(_int_locator())
    ax.set_xlim(min(r) - 0.3, max(r) + 0.3)
    lo, _ = zoomed_range(vals)
    top = float(np.nanmax(vals)) if np.isfinite(vals).any() else 1.0
    ax.set_ylim(lo, min(1.0, top + 0.05) if top < 0.95 else 1.01)
    ax.set_xlabel("refinement round", fontsize=9)
    ax.set_ylabel("gold_dev macro-F1\n(weak labels only)", fontsize=9)
    if lo > 0:
        ax.text(0.0, -0.28, f"y-{_zoom_note(lo)}", transform=ax.transAxes, fontsize=7.5, color="#555555")
    ax.tick_params(labelsize=8)
    ax.grid(color="#dddddd", lw=0.6, ls=":")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=1, fontsize=8, frameon=False, borderaxespad=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return figure_png(fig)


DRIFT_PANELS = (("tag_mix_psi", "predicted tag mix (PSI)"), ("domain_auc", "embedding shift (domain AUC)"),
                ("lf_shift_share", "LFs whose rate halved or doubled"), ("confidence_ks", "confidence shift (KS)"),
                ("needs_review_share", "share needing review"), ("uncovered_by_rules", "share no rule covers"))


def plot_drift(frame: pd.DataFrame, limits: dict[str, float]) -> bytes:
    """Drift-watch statistics per window (``frame``: one row per window, ``window_start`` and the
    ``DRIFT_PANELS`` columns, ``alert``), one small panel each, the alert line of each statistic
    (``limits``) dashed, and alerting windows drawn red."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 4.6), sharex=True)
    x = np.arange(len(frame))
    red = frame["alert"].astype(bool).to_numpy()
    for ax, (col, title) in zip(axes.ravel(), DRIFT_PANELS):
        v = frame[col].astype(float).to_numpy()
        ax.plot(x, v, color="#1f4e9c", lw=1.4, marker="o", ms=4)
        ax.scatter(x[red], v[red], color="#c92a2a", s=36, zorder=4)
        if col in limits:
            ax.axhline(limits[col], color="#c92a2a", ls="--", lw=1)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7.5)
        ax.grid(color="#dddddd", lw=0.6, ls=":")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in axes[-1]:
        ax.set_xticks(x)
        ax.set_xticklabels(frame["window_start"].astype(str), rotation=45, ha="right", fontsize=7.5)
    fig.suptitle("red dots: windows that raised an alert; dashed: the alert line", fontsize=8.5, color="#555555")
    fig.tight_layout()
    return figure_png(fig)
