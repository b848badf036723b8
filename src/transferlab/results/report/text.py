"""How the report writes run-folder values into HTML: escaped, and with fixed decimals.

Shared by html.py and the report sections it imports (which cannot import html.py back).
"""

from __future__ import annotations

import html


def esc(value: object) -> str:
    """Every value from a run folder (file names, class names) is untrusted text."""
    return html.escape(str(value), quote=True)


def fmt(value: object, digits: int = 4) -> str:
    """Fixed decimals so table columns line up; a dash for a metric the run does not have."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return esc(value)
