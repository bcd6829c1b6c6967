"""Cells and images of the run report: how a value is written in a table (:func:`fmt`, the template's
``fmt`` filter), where long tag names may wrap (:func:`wbr`, its ``wbr`` filter), a table column's
description (:func:`col`) and a PNG as an inline data URI (:func:`png_image`).
"""
from __future__ import annotations

import base64
import math
import struct

import pandas as pd

# ---- formatting (the template's ``fmt`` filter) ----------------------------------------------------

def missing(x) -> bool:
    """Whether a cell has no value: None, NaN, an empty or "nan" / "None" string."""
    if x is None:
        return True
    if isinstance(x, float) and math.isnan(x):
        return True
    if isinstance(x, str) and x.strip() in ("", "nan", "None"):
        return True
    try:
        return bool(pd.isna(x)) if not isinstance(x, (list, dict, tuple)) else False
    except (TypeError, ValueError):
        return False


def fmt(x, kind: str = "text") -> str:
    """A cell as text: ``int`` (rounds, counts: integers with thousands separators), ``f3``/``f4``
    (3 or 4 decimals), ``usd``, ``text``; a missing value is "–"."""
    if missing(x):
        return "–"
    try:
        if kind == "int":
            return f"{round(float(x)):,}"
        if kind in ("f2", "f3", "f4"):
            return f"{float(x):.{kind[1]}f}"
        if kind == "usd":
            return f"${float(x):,.4f}"
    except (TypeError, ValueError):
        return str(x)
    return str(x)


def wbr(text: str):
    """Escaped text with line-break opportunities after ``_``, ``:`` and ``/`` (long tag names wrap
    at their word joints instead of anywhere)."""
    from markupsafe import Markup, escape

    out = str(escape(text))
    for ch in ("_", ":", "/"):
        out = out.replace(ch, ch + "<wbr>")
    return Markup(out)


def col(key: str, label: str | None = None, kind: str = "text", cls: str = "", help: str = "",
        joints: bool = False) -> dict:
    """A table column: the row key, its header, the ``fmt`` kind, CSS classes, a header tooltip, and
    whether the text may wrap at ``_`` / ``:`` (``joints``)."""
    return {"key": key, "label": label or key.replace("_", " "), "fmt": kind,
            "cls": (cls or ("n" if kind != "text" else "")).strip(), "help": help, "wbr": joints}


# ---- images --------------------------------------------------------------------------------------

def png_image(png: bytes | None, alt: str) -> dict | None:
    """``{src, width, height, alt}`` of a PNG as a data URI, shown at its own pixel size."""
    if not png:
        return None
    w, h = struct.unpack(">II", png[16:24]) if png[:8] == b"\x89PNG\r\n\x1a\n" else (None, None)
    return {"src": "data:image/png;base64," + base64.b64encode(png).decode(), "width": w, "height": h, "alt": alt}
