"""The run report (tagger/report.py + tagger/templates/report.html) on a hand-made run directory: every
section, escaping, number formats, the miner and label-model notes, the LF table's scroller, inlined
images only; and the page laid out by headless Chromium at 1,400 px. The browser check skips without
Chromium, unless TAGGER_REQUIRE_BROWSER=1, where a missing browser fails it."""
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

TAGS = ["card_lost", "fee_charged", "transfer_pending", "pin_blocked"]
EVIL_ID = "kw:<script>alert('id')</script>"
EVIL_RATIONALE = "fires on <script>alert('why')</script> & friends"
CHROMIUM = [os.environ.get("TAGGER_CHROMIUM", ""), "/usr/bin/chromium", "/usr/bin/chromium-browser",
            shutil.which("chromium") or "", shutil.which("chromium-browser") or ""]


def _result(f1s, macro):
    return {"n": 40, "macro_f1": macro, "micro_f1": macro + 0.001, "accuracy": macro + 0.001,
            "per_tag": {t: {"precision": f, "recall": f, "f1": f, "support": 10} for t, f in zip(TAGS, f1s)},
            "top_confusions": [{"true": "card_lost", "pred": "pin_blocked", "count": 2}],
            "fees_task": {"precision": 0.9, "recall": 0.8, "f1": 0.847, "support": 10}}


def make_run(d: Path, *, usage_tokens: int = 0, refinement: bool = True, optional: bool = True) -> Path:
    """A finished run directory written by hand (the files ``tagger run`` leaves, with made-up numbers)."""
    d.mkdir(parents=True, exist_ok=True)
    test = {"model": _result([0.86, 0.93, 0.97, 1.0], 0.9412),
            "baseline_gold_dev_only": _result([0.8, 0.9, 0.9, 0.95], 0.8877),
            "baseline_operator_tags": _result([0.7, 0.88, 0.9, 0.9], 0.8451),
            "baseline_majority_vote": _result([0.75, 0.9, 0.92, 1.0], 0.8923)}
    rounds = [{"round": 0, "active_lfs": 8, "generated_lfs": 0, "dev_gate_macro_f1": 0.81, "dev_select_macro_f1": 0.74,
               "label_model": "snorkel_label_model", "pool_coverage": 0.97, "added": ["mine:a", "mine:b"], "retired": [],
               "rejected": 3, "proposed": 5,
               "usage": {"requests": 2 if usage_tokens else 0, "prompt_tokens": usage_tokens,
                         "completion_tokens": usage_tokens // 2, "cost_usd": 0.0123 if usage_tokens else 0.0}},
              {"round": 1, "active_lfs": 10, "generated_lfs": 2, "dev_gate_macro_f1": 0.88, "dev_select_macro_f1": 0.86,
               "label_model": "snorkel_label_model", "pool_coverage": 0.98, "added": [], "retired": [], "rejected": 1,
               "proposed": 1, "usage": {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}},
              {"round": 2, "active_lfs": 10, "generated_lfs": 2, "dev_gate_macro_f1": 0.88, "dev_select_macro_f1": 0.86,
               "label_model": "snorkel_label_model", "pool_coverage": 0.98}]
    metrics = {
        "run": "fake-run", "config": str(d / "fake.yaml"), "dataset": {"tags": len(TAGS)},
        "ingest": {"pool_rows": 200, "gold_dev_rows": 24, "quarantined": 2, "operator_tag_unknown": 0,
                   "quarantine_reasons": {"duplicate_id": 1, "empty_text": 1}},
        "label_model": {"kind": "snorkel", "method": "snorkel_label_model",
                        "families": ["metadata:operator_tag", "exemplar", "keyword"],
                        "fit_seconds": 0.4, "n_lfs": 4, "coverage": 0.95, "gold_dev_coverage": 0.9,
                        "gold_dev_accuracy_label_model": 0.9130, "gold_dev_accuracy_majority_vote": 0.8841,
                        "note": "gold_dev accuracy of the argmax label on covered dev tickets; exemplar LFs are leave-one-out "
                                "and the label model's seeds use gold_dev, so this is optimistic"},
        "training": {"tickets": 190, "weak_labels_pruned": 3, "mode": "frozen",
                     "recipe": {"name": "weak+dev_w5+prune+char", "weak": True, "dev_weight": 5.0, "prune": True,
                                "features": "embedding+char"}},
        "selection": {"folds": 2, "holdout": "unseen", "scored_tickets": 12, "never_scored_seen_tickets": 12,
                      "note": "2 folds instead of 5: only 12 gold_dev tickets to score",
                      "chosen": {"name": "weak+dev_w5+prune+char"},
                      "table": [{"recipe": "weak+dev_w5+prune+char", "cv_macro_f1_mean": 0.9123, "cv_macro_f1_std": 0.02,
                                 "folds": [0.89, 0.93]},
                                {"recipe": "dev_only+self_train+char", "cv_macro_f1_mean": 0.8456, "cv_macro_f1_std": 0.03,
                                 "folds": [0.82, 0.87]}]},
        "refinement": {"best_round": 1, "kept_round": "best", "stop_reason": "max_rounds", "rounds": rounds,
                       "split": {"gate_tickets": 12, "select_tickets": 12}, "generated_lfs": 2, "used_lfs": 2,
                       "rejected": 4} if refinement else None,
        "test": test, "timings_s": {"total": 12.5}, "peak_rss_mb": 700.0,
    }
    (d / "metrics.json").write_text(json.dumps(metrics))
    from models.evaluate import per_tag_frame

    per_tag_frame(test).to_csv(d / "per_tag.csv", index=False)
    cm = pd.DataFrame([[8, 0, 0, 2], [0, 10, 0, 0], [0, 1, 9, 0], [0, 0, 0, 10]], index=TAGS, columns=TAGS)
    cm.rename_axis("true").reset_index().to_csv(d / "confusion.csv", index=False)
    lfs = [{"id": "op:card_lost", "tag": "card_lost", "kind": "metadata",
            "params": {"field": "operator_tag", "equals": "card_lost"},
            "rationale": "The operator tagged it.", "author": "system:operator_tags", "status": "active",
            "provenance": {"source": "operator_tag"}},
           {"id": "mine:fee_charged:kw:fee", "tag": "fee_charged", "kind": "keyword", "params": {"any": ["fee"]},
            "rationale": "mined", "author": "miner:miner-v1", "status": "active",
            "provenance": {"backend": "miner", "model": "miner-v1", "round": 1, "action": "add"}},
           {"id": "mine:pin_blocked:kw:pin", "tag": "pin_blocked", "kind": "keyword", "params": {"any": ["pin"]},
            "rationale": "mined", "author": "miner:miner-v1", "status": "active",
            "provenance": {"backend": "miner", "model": "miner-v1", "round": 2, "action": "add"}},
           {"id": EVIL_ID, "tag": "transfer_pending", "kind": "keyword", "params": {"any": ["pending"]},
            "rationale": EVIL_RATIONALE, "author": "someone", "status": "active", "provenance": {}}]
    (d / "lfs.yaml").write_text(yaml.safe_dump({"lfs": lfs}, sort_keys=False))
    pd.DataFrame([{"id": x["id"], "tag": x["tag"], "kind": x["kind"], "author": x["author"], "status": "active",
                   "coverage": 0.1 + i / 100, "overlaps": 0.05, "conflicts": 0.01, "hits": 20 + i, "dev_correct": 4,
                   "dev_incorrect": i, "dev_precision": 4 / (4 + i), "dev_recall": 0.5 if i != 2 else float("nan")}
                  for i, x in enumerate(lfs)]).to_csv(d / "lf_summary.csv", index=False)
    (d / "lf_examples.json").write_text(json.dumps({x["id"]: {"ok": ["customer: lost my card"],
                                                            "bad": ["(true: fee_charged) <b>bold</b> text"],
                                                            "pool": []} for x in lfs}))
    if optional:
        pd.DataFrame({"tag": TAGS, "precision": [1, 0.8, 1, 1], "recall": [1, 1, 0.67, 1], "f1": [1, 0.889, 0.8, 1],
                      "support": [3, 3, 3, 3]}).to_csv(d / "per_tag_cv.csv", index=False)
        pd.DataFrame({"ticket_id": ["t-1", "t-2"], "weak_label": ["card_lost", "fee_charged"], "weak_confidence": [0.51, 0.6],
                      "operator_tag": ["card_lost", "fee_charged"], "model_tag": ["pin_blocked", "fee_charged"],
                      "model_probability": [0.9, 0.4], "text": ["customer: my PIN is blocked\noperator: ok", "why a fee"]}
                     ).to_csv(d / "label_issues.csv", index=False)
    return d


class Tables(HTMLParser):
    """Every <table> of a page as ``{"cls", "head", "rows"}``: the header cells and each body row's cell texts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self._cell, self._row, self._th = [], None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"cls": dict(attrs).get("class") or "", "head": [], "rows": []})
        elif tag == "tr":
            self._row, self._th = [], False
        elif tag in ("td", "th"):
            self._cell, self._th = [], self._th or tag == "th"

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            t = self.tables[-1]
            if self._th:
                t["head"] = self._row
            else:
                t["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> list[dict]:
    p = Tables()
    p.feed(page)
    return p.tables


def column(t: dict, name: str) -> list[str]:
    i = t["head"].index(name)
    return [r[i] for r in t["rows"]]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from tagger.report import write_report

    d = make_run(tmp_path_factory.mktemp("report") / "run")
    return d, write_report(d).read_text(encoding="utf-8")


def test_every_section_escaping_and_self_contained(report):
    from tagger.report_text import SECTIONS

    d, page = report
    for s in SECTIONS:
        assert f"id='{s.lower().replace(' ', '-')}'" in page, s
    # nothing from the run's files is markup: an LF id, a rationale, an example hit
    assert "<script" not in page.lower() and "<b>bold</b>" not in page
    assert "kw:&lt;script&gt;alert(&#39;id&#39;)&lt;/script&gt;" in page and "&lt;script&gt;alert(&#39;why&#39;)" in page
    # one self-contained file: images inlined, no network asset, no stylesheet link
    assert page.count("data:image/png;base64,") >= 3  # per-tag F1, confusions, rounds
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r"src='([^']*)'", page))
    assert (d / "report.html").stat().st_mode & 0o044 == 0o044  # readable by others, like the run's other files


def test_numbers_lf_table_and_scroller(report):
    _, page = report
    lf = next(t for t in tables(page) if "lf" in t["cls"].split())
    assert lf["head"][0] == "id" and {"dev incorrect", "hits", "round"} <= set(lf["head"])
    by_id = dict(zip(column(lf, "id"), column(lf, "round")))
    assert by_id == {"op:card_lost": "–", "mine:fee_charged:kw:fee": "1", "mine:pin_blocked:kw:pin": "2", EVIL_ID: "–"}
    assert all(h.isdigit() for h in column(lf, "hits"))
    assert all(v.isdigit() for v in column(lf, "dev incorrect"))
    assert "–" in column(lf, "dev recall")  # a missing value
    rounds = next(t for t in tables(page) if t["head"][:2] == ["round", "active LFs"])
    assert column(rounds, "round") == ["0", "1", "2"] and column(rounds, "active LFs") == ["8", "10", "10"]
    assert "None" not in page and not re.search(r"\bnan\b", page, re.I)
    # the LF table scrolls sideways inside its box with the id column sticky
    assert re.search(r"<div class='scroll'>\s*<table class='t lf'>", page)
    assert ".scroll{overflow-x:auto" in page and re.search(r"table\.lf \.sticky\{position:sticky;left:0", page)


def test_notes_caveat_selection_and_test_scores_only_in_final_section(report):
    _, page = report
    assert "offline miner" in page and "All usage is zero" in page
    assert "these accuracies are optimistic" in page and "so this is optimistic" in page
    assert "2 folds instead of 5" in page and "weak+dev_w5+prune+char" in page
    assert "out-of-fold F1 on gold_dev" in page and "transfer_pending" in page
    assert "t-1" in page and "label_issues.csv" not in page.split("id='label-issues'")[0]
    final, rest = page.split("<p class='devpart'>")
    assert "0.9412" in final and "0.9412" not in rest  # gold_test macro-F1 only in the final-scores section
    assert "gold_test" in final.split("id='scores'")[1][:200]
    glossary = page.split("id='glossary'")[1]
    for term in ("macro-F1", "micro-F1", "fees task", "baseline_operator_tags", "baseline_majority_vote",
                 "baseline_gold_dev_only", "prune", "self_train", "dev_wN", "adjT"):
        assert term in glossary, term


def test_usage_table_when_an_llm_was_paid_and_missing_optional_files(tmp_path):
    from tagger.report import render_report

    page = render_report(make_run(tmp_path / "llm", usage_tokens=1500))
    usage = page.split("id='llm-usage'")[1]
    assert "offline miner" not in usage and "1,500" in usage and "$0.0123" in usage
    page = render_report(make_run(tmp_path / "bare", refinement=False, optional=False))
    assert "No refinement loop in this run" in page and "No label-issues list" in page
    assert "out-of-fold F1" not in page and page.count("data:image/png;base64,") == 2


def test_plots_zoom_and_integer_rounds(tmp_path, monkeypatch):
    from matplotlib import pyplot as plt

    from models.evaluate import plot_results
    from models.plots import plot_rounds, zoomed_range

    assert zoomed_range([0.86, 0.93, 1.0]) == (0.8, 1.0) and zoomed_range([0.1, 1.0]) == (0.0, 1.0)
    figs, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figs.append(fig), close(fig))[1])  # look before it closes
    plot_rounds([{"round": 0, "dev_gate_macro_f1": 0.8, "dev_select_macro_f1": 0.7},
                 {"round": 1, "dev_gate_macro_f1": 0.85, "dev_select_macro_f1": 0.85},
                 {"round": 2, "dev_gate_macro_f1": 0.85, "dev_select_macro_f1": 0.85}], best_round=1)
    ax = figs[-1].axes[0]
    assert list(ax.get_xticks()) == [0, 1, 2]  # whole rounds only
    gate, select = ax.get_lines()[:2]  # equal values stay visible: different markers, sizes and line styles
    assert gate.get_marker() != select.get_marker() and gate.get_linestyle() != select.get_linestyle()
    assert gate.get_markersize() > select.get_markersize() and gate.get_markerfacecolor() == "none"
    results = {"model": {**_result([0.9, 1, 1, 1], 0.97), "confusion_matrix": [[9, 1, 0, 0], [0, 10, 0, 0],
                                                                              [0, 0, 10, 0], [0, 0, 0, 10]]},
               "baseline_gold_dev_only": _result([0.8, 0.9, 1, 1], 0.92)}
    paths = plot_results(results, TAGS, tmp_path)
    assert [p.name for p in paths] == ["per_tag_f1.png", "confusion_top.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    per_tag = figs[-2].axes[0]
    assert per_tag.get_xlim()[0] > 0.7  # zoomed to the data (0.8 to 1), and the label says so
    assert "zoomed to 0.75" in per_tag.get_xlabel() and per_tag.get_legend() is not None
    legend_box = per_tag.get_legend().get_window_extent()
    assert legend_box.y0 >= per_tag.get_window_extent().y1 - 1  # the legend is above the data, not on it


def _chromium():
    found = next((p for p in CHROMIUM if p and Path(p).is_file() and os.access(p, os.X_OK)), None)
    if found is None:
        if os.environ.get("TAGGER_REQUIRE_BROWSER") == "1":
            pytest.fail("TAGGER_REQUIRE_BROWSER=1 but Chromium is not installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium; TAGGER_REQUIRE_BROWSER=1 makes this an error)")
    return found


def test_page_lays_out_at_1400px_in_headless_chromium(report, tmp_path):
    """Chromium lays the report out at 1,400 px: the page does not scroll sideways, the LF table's
    columns are all inside the window, and every image shows at no more than its own pixel size."""
    chromium = _chromium()
    _, page = report
    probe = ("<script>var b=document.body,t=document.querySelector('table.lf'),i=[].slice.call(document.images);"
             "b.setAttribute('data-sw',document.documentElement.scrollWidth);"
             "b.setAttribute('data-lf',Math.ceil(t.getBoundingClientRect().right));"
             "b.setAttribute('data-img',i.every(function(x){return x.complete&&x.naturalWidth>0&&"
             "x.getBoundingClientRect().width<=x.naturalWidth+1}));</script></body>")
    probed = tmp_path / "probe.html"
    probed.write_text(page.replace("</body>", probe), encoding="utf-8")
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--hide-scrollbars", "--window-size=1400,2400"]
    r = subprocess.run([*args, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r"<body data-sw=\"(\d+)\" data-lf=\"(\d+)\" data-img=\"(\w+)\"", r.stdout)
    assert m, r.stdout[:500]
    assert int(m.group(1)) <= 1400 and int(m.group(2)) <= 1400 and m.group(3) == "true", m.groups()
