"""Prompt templates (versioned files in ``llm_rulegen/prompts/``) and the small, masked requests
built from them. Requests never carry the whole dataset: per tag a few examples and errors,
each text truncated, and every text passes through :func:`data.pii.mask_pii`."""
from __future__ import annotations

from pathlib import Path
from string import Template

from data.pii import mask_pii
from data.schema import one_line
from llm_rulegen.base import RoundContext

PROMPT_DIR = Path(__file__).parent / "prompts"
VERSION = "v1"
MAX_TEXT = 300


def template(name: str, version: str = VERSION) -> Template:
    return Template((PROMPT_DIR / f"{name}.{version}.txt").read_text(encoding="utf-8"))


def _clip(text: str) -> str:
    return mask_pii(one_line(text, MAX_TEXT))


def _lines(rows, fmt, empty="(none)") -> str:
    out = [fmt(r) for r in rows]
    return "\n".join(out) if out else empty


MAX_FIRED = 4
MAX_REJECTED = 4  # the tag's latest gate rejections shown in a revision prompt


def describe_lf(spec) -> str:
    """One line an LLM can act on: the LF's id, family, the tag it votes for and its definition
    (keywords, pattern, or for an exemplar LF its threshold and an example text)."""
    p = spec.params
    if spec.kind == "keyword":
        parts = [f"{k}={v}" for k, v in (("any", p.any), ("all", p.all), ("exclude", p.exclude)) if v]
        d = "keyword " + " ".join(parts)
    elif spec.kind == "regex":
        d = f"regex /{p.pattern}/" + (f" exclude /{p.exclude_pattern}/" if p.exclude_pattern else "")
    elif spec.kind == "exemplar":
        d = (f"exemplar: cosine >= {p.threshold:.2f} to one of {len(p.texts)} expert examples, "
             f"e.g. \"{_clip(p.texts[0])[:80]}\"")
    elif spec.kind == "neighbor":
        d = f"neighbor: {p.min_share:.0%} of the {p.k} most similar tickets have {p.field}={p.equals}"
    else:
        d = f"{spec.kind}: {p.field} = {p.equals}"
    return mask_pii(f"{spec.id} -> {spec.tag} ({d[:160]})")


def _fired(ids, by_id, tag: str, own: bool) -> list[str]:
    """The fired LFs that vote for ``tag`` (``own``) or for any other tag, described."""
    sel = [by_id[i] for i in ids if i in by_id and (by_id[i].tag == tag) == own]
    return [describe_lf(s) for s in sel[:MAX_FIRED]] + ([f"... {len(sel) - MAX_FIRED} more"] if len(sel) > MAX_FIRED else [])


def _fn_line(r, by_id, tag: str) -> str:
    own = _fired(getattr(r, "lfs_fired", []), by_id, tag, True)
    head = f"- [{r.ticket_id}] predicted={r.predicted}: {_clip(r.text)}"
    if own:
        return head + "\n    CONFLICT, not a coverage gap: LFs for this tag fired but lost: " + "; ".join(own)
    return head + "\n    coverage gap: no LF for this tag fired"


def _fp_line(r, by_id, tag: str) -> str:
    own = _fired(r.lfs_fired, by_id, tag, True)
    other = _fired(r.lfs_fired, by_id, r.gold, True)
    line = f"- [{r.ticket_id}] true={r.gold}: {_clip(r.text)}"
    line += "\n    fired for this tag: " + ("; ".join(own) if own else "none (the model's own choice)")
    if other:
        line += f"\n    fired for the true tag {r.gold}: " + "; ".join(other)
    return line


def tag_block(ctx: RoundContext, tag: str, n_examples: int, n_errors: int) -> str:
    e = ctx.errors[tag]
    by_id = {s.id: s for s in ctx.lfs}
    stats = ctx.lf_stats.set_index("id") if len(ctx.lf_stats) else None
    cur = [s for s in ctx.lfs if s.tag == tag and s.kind in ("keyword", "regex")]

    def lf_line(s):
        cov = prec = float("nan")
        if stats is not None and s.id in stats.index:
            cov, prec = stats.loc[s.id, "coverage"], stats.loc[s.id, "dev_precision"]
        return f"- {s.id} ({s.kind}) {mask_pii(s.params.model_dump_json(exclude_defaults=True))} coverage={cov:.3f} precision={prec:.2f}"

    return template("tag_block").substitute(
        tag=tag, description=mask_pii(e.description), confusable=", ".join(e.confusable) or "(none seen)",
        examples=_lines(e.examples.head(n_examples).itertuples(), lambda r: f"- [{r.ticket_id}] {_clip(r.text)}"),
        false_negatives=_lines(e.false_negatives.head(n_errors).itertuples(), lambda r: _fn_line(r, by_id, tag)),
        false_positives=_lines(e.false_positives.head(n_errors).itertuples(), lambda r: _fp_line(r, by_id, tag)),
        current_lfs=_lines(cur, lf_line),
        rejected=_rejected_lines([x for x in ctx.rejected if x.get("tag") == tag][-MAX_REJECTED:]))


def _rejected_lines(rows: list[dict]) -> str:
    """The tag's latest gate rejections, so a revision does not repeat them (empty when there are none)."""
    if not rows:
        return ""
    return ("Your earlier proposals for this tag that the gate rejected (measured on the expert set and the pool):\n"
            + "".join(mask_pii(f"- {x['id']} {x.get('definition', '')}: {x['reason']} ({x.get('detail', '')})") + "\n"
                      for x in rows))


def build_messages(ctx: RoundContext, tags: list[str], n_examples: int, n_errors: int) -> list[dict]:
    """Chat messages for one request about ``tags``: cold start when none of them has rules yet."""
    has_rules = any(s.tag in tags and s.kind in ("keyword", "regex") for s in ctx.lfs)
    name = "revision" if has_rules and ctx.round > 1 else "cold_start"
    blocks = "\n\n".join(tag_block(ctx, t, n_examples, n_errors) for t in tags)
    user = template(name).substitute(round=ctx.round, max_new=ctx.max_new_per_tag, tag_blocks=blocks)
    system = template("system").template
    if ctx.language and ctx.language.lower() not in ("english", "en"):  # English prompts stay byte-identical
        system += (f"\n\nThe tickets are in {ctx.language}. Write keyword phrases and regexes in {ctx.language}, "
                   "as the customers write them. Regexes run on RE2: \\w, \\d and \\b are ASCII-only, so write "
                   "\\p{L} for a letter of any script and never put \\b next to a non-ASCII letter.")
    return [{"role": "system", "content": system},
            {"role": "user", "content": mask_pii(user)}]
