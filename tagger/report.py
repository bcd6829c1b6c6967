"""The run report: one self-contained HTML file (plots inlined as PNG data URIs, no script, no
network asset), rendered from the run directory's files by the autoescaped Jinja2 template
``tagger/templates/report.html``.

Sections: final scores on gold_test (model against the baselines, per-tag F1, the most-confused
tags), then what was decided on gold_dev only: the recipe selection (CV table, the chosen recipe's
out-of-fold per-tag F1), the refinement rounds, label model vs majority vote (with its optimism
caveat), the LF table (coverage, overlap, conflict, dev precision, hits, author, round, status) with
example hits per LF, the flagged label issues, quarantine counts, LLM usage and a glossary. Every
figure is drawn by ``models/plots.py``.

This module renders and writes the page; what it shows is read by :mod:`tagger.report_context`, its
words are in :mod:`tagger.report_text` and its cells are written by :mod:`tagger.report_format`.
"""
from __future__ import annotations

from pathlib import Path

from tagger.report_context import build_context
from tagger.report_format import fmt, wbr

TEMPLATE = "report.html"


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.filters["wbr"] = wbr
    return env


def render_report(run_dir: str | Path) -> str:
    """The report page of a run directory, as HTML text."""
    return _env().get_template(TEMPLATE).render(**build_context(run_dir))


def write_report(run_dir: str | Path) -> Path:
    """(Re)write ``RUN_DIR/report.html``."""
    from data.atomic import atomic_write_text

    run_dir = Path(run_dir)
    out = run_dir / "report.html"
    atomic_write_text(out, render_report(run_dir))
    out.chmod(0o644)  # a page to share, like the run's other files (the atomic write's temp file is 0600)
    return out
