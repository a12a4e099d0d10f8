"""Data as display text: numbers formatted, control and bidi-override characters made
visible. The result is plain text; the templates escape it."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

# Control (Cc) and format (Cf: every bidi mark, embedding, override and isolate, zero-width
# characters, U+061C...) characters, and line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN_CATEGORIES


def clean(value: Any) -> str:
    """`value` as text with control and bidi-override characters shown as `\\uXXXX` (so a
    string cannot hide or reorder what follows it) and lone surrogates replaced. Idempotent,
    so the templates apply it to every value whether or not it was cleaned before."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    if any(_hidden(c) for c in text):
        text = "".join(f"\\u{ord(c):04x}" if _hidden(c) else c for c in text)
    return text


def shorten(value: Any, limit: int) -> str:
    text = clean(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: Any) -> float | None:
    """A finite JSON number as float, else None (strings, booleans, NaN from a broken file)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fmt_int(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def fmt_num(value: Any, digits: int = 3) -> str:
    """A float with `digits` significant digits (integers with separators)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (math.isfinite(value) and float(value).is_integer()):
        return f"{int(value):,}" if abs(value) < 1e15 else f"{value:.3g}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def fmt_bytes(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000:
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def fmt_pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def fmt_score(value: float) -> str:
    return f"{value:,.4g}"


def fmt_size(value: float) -> str:
    """A document length (bytes) on a histogram axis."""
    return fmt_bytes(round(value))
