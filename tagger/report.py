"""The run report: one self-contained HTML file (plots embedded as PNG data URIs, no network).

Sections: headline scores against the baselines, per-tag F1 bars, the most-confused tag pairs,
the score over refinement rounds, label model vs majority vote, the LF table (coverage, overlap,
conflict, dev precision, hits, author, round, status) with example hits per LF, quarantine counts,
and LLM tokens and cost.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd
import yaml

SECTIONS = ["Scores", "Per-tag F1", "Confused tags", "Refinement rounds", "Label model", "Labeling functions",
            "Quarantine", "LLM usage"]


def _img(path: Path) -> str:
    if not path.exists():
        return "<p><em>(plot missing)</em></p>"
    b64 = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{b64}" style="max-width:100%">'


def _table(df: pd.DataFrame, float_fmt: str = "{:.3f}") -> str:
    return df.to_html(index=False, escape=True, border=0, classes="t",
                      float_format=lambda x: float_fmt.format(x), na_rep="")


def rounds_plot(rounds: list[dict], out: Path) -> Path | None:
    if not rounds:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = [x["round"] for x in rounds]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(r, [x["dev_gate_macro_f1"] for x in rounds], marker="o", label="gating half")
    ax.plot(r, [x["dev_select_macro_f1"] for x in rounds], marker="s", label="selection half")
    ax.set_xlabel("round")
    ax.set_ylabel("gold_dev macro-F1 (weak labels only)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_report(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    m = json.loads((run_dir / "metrics.json").read_text())
    test = m["test"]
    scores = pd.DataFrame([{"model": k, "macro-F1": v["macro_f1"], "micro-F1": v["micro_f1"], "accuracy": v["accuracy"],
                            **({"fees F1": v["fees_task"]["f1"]} if "fees_task" in v else {})} for k, v in test.items()])
    lm = m["label_model"]
    lm_df = pd.DataFrame([{"aggregator": lm.get("method", lm["kind"]), "gold_dev accuracy": lm["gold_dev_accuracy_label_model"]},
                          {"aggregator": "majority vote", "gold_dev accuracy": lm["gold_dev_accuracy_majority_vote"]}])
    lfs = yaml.safe_load((run_dir / "lfs.yaml").read_text())["lfs"] if (run_dir / "lfs.yaml").exists() else []
    meta = pd.DataFrame([{"id": x["id"], "round": (x.get("provenance") or {}).get("round")} for x in lfs],
                        columns=["id", "round"])
    summ = pd.read_csv(run_dir / "lf_summary.csv") if (run_dir / "lf_summary.csv").exists() else pd.DataFrame()
    if len(summ):
        summ = summ.merge(meta, on="id", how="left")
        cols = [c for c in ["id", "tag", "kind", "author", "round", "status", "coverage", "overlaps", "conflicts",
                            "dev_precision", "dev_correct", "dev_incorrect", "hits"] if c in summ.columns]
        summ = summ[cols].sort_values(["tag", "id"])
    examples = json.loads((run_dir / "lf_examples.json").read_text()) if (run_dir / "lf_examples.json").exists() else {}
    ref = m.get("refinement") or {}
    rounds = ref.get("rounds", [])
    rp = rounds_plot(rounds, run_dir / "rounds.png") if rounds else None
    usage = [{"round": r["round"], **{k: (r.get("usage") or {}).get(k, 0) for k in
                                       ("requests", "prompt_tokens", "completion_tokens", "cost_usd", "cache_hits")}}
             for r in rounds if "usage" in r]
    q = m["ingest"].get("quarantine_reasons", {})

    ex_html = []
    for lf_id, ex in list(examples.items())[:400]:
        items = "".join(f"<li class='{cls}'>{html.escape(t)}</li>" for cls in ("ok", "bad", "pool")
                        for t in ex.get(cls, []))
        ex_html.append(f"<details><summary>{html.escape(lf_id)}</summary><ul>{items or '<li>(no hits)</li>'}</ul></details>")

    parts = [f"<h1>Run {html.escape(m['run'])}</h1>",
             f"<p>config: <code>{html.escape(str(m.get('config')))}</code> · tags: {m['dataset']['tags']} · "
             f"recipe: {html.escape(str(m['training']['recipe']['name']))} · mode: {m['training']['mode']}</p>",
             "<h2 id='scores'>Scores</h2><p>gold_test, read only for this final scoring.</p>", _table(scores, "{:.4f}"),
             "<h2 id='per-tag-f1'>Per-tag F1</h2>", _img(run_dir / "per_tag_f1.png"),
             "<h2 id='confused-tags'>Confused tags</h2>", _img(run_dir / "confusion_top.png"),
             "<h2 id='refinement-rounds'>Refinement rounds</h2>",
             (_img(rp) + _table(pd.DataFrame([{k: r.get(k) for k in ("round", "active_lfs", "generated_lfs",
                                                                      "dev_gate_macro_f1", "dev_select_macro_f1")}
                                              for r in rounds]), "{:.4f}") +
              f"<p>best round: {ref.get('best_round')} · stopped: {html.escape(str(ref.get('stop_reason')))}</p>")
             if rounds else "<p>No refinement loop in this run.</p>",
             "<h2 id='label-model'>Label model</h2>", _table(lm_df, "{:.4f}"),
             f"<p>{lm['n_lfs']} LFs in families {html.escape(', '.join(lm.get('families', [])))}; pool coverage "
             f"{lm['coverage']:.3f}; fit {lm['fit_seconds']:.2f}s.</p>",
             "<h2 id='labeling-functions'>Labeling functions</h2>",
             _table(summ) if len(summ) else "<p>(none)</p>",
             "<h3>Example hits</h3><p class='legend'><span class='ok'>correct on gold_dev</span> · "
             "<span class='bad'>incorrect on gold_dev</span> · <span class='pool'>unlabeled pool</span></p>",
             "".join(ex_html),
             "<h2 id='quarantine'>Quarantine</h2>",
             _table(pd.DataFrame([{"reason": k, "rows": v} for k, v in q.items()])) if q else "<p>No rows quarantined.</p>",
             "<h2 id='llm-usage'>LLM usage</h2>",
             _table(pd.DataFrame(usage), "{:.4f}") if usage else "<p>No LLM requests in this run.</p>"]
    css = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
           "table.t{border-collapse:collapse;font-size:13px;margin:.5em 0}table.t td,table.t th{border:1px solid #ddd;"
           "padding:3px 6px}table.t th{background:#f3f3f3}li.ok,span.ok{color:#1a7f37}li.bad,span.bad{color:#b42318}"
           "li.pool,span.pool{color:#555}details{margin:2px 0}summary{cursor:pointer;font-family:monospace}")
    nav = " · ".join(f"<a href='#{s.lower().replace(' ', '-')}'>{s}</a>" for s in SECTIONS)
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>Run {html.escape(m['run'])}</title>"
           f"<style>{css}</style></head><body><nav>{nav}</nav>{''.join(parts)}</body></html>")
    out = run_dir / "report.html"
    out.write_text(doc, encoding="utf-8")
    return out
