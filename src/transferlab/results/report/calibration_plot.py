"""Reliability diagram (before / after temperature scaling) and its caption for report.html.

Drawn from the `calibration` block of a run's test metrics (metrics.json), so a report needs
no predictions file and no model to show calibration.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from transferlab.results.report.plots import BAD, BASE, GOOD, _save, plt


def _panel(ax, part: dict, title: str, colour: str) -> None:
    bins = part.get("bins") or []
    centres = [(b["lo"] + b["hi"]) / 2 for b in bins]
    width = bins[0]["hi"] - bins[0]["lo"] if bins else 1 / 15
    acc = [b["accuracy"] if b["count"] else 0.0 for b in bins]
    conf = [b["confidence"] if b["count"] else np.nan for b in bins]
    ax.bar(centres, acc, width * 0.95, color=colour, alpha=0.8, label="accuracy")
    ax.plot(centres, conf, "o", color=BAD, ms=4, label="mean confidence")
    ax.plot([0, 1], [0, 1], "--", color=BASE, lw=1, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
           title=f"{title}: ECE {part.get('ece', float('nan')):.3f}")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)


def reliability_diagram(calibration: dict, path: Path, title: str = "") -> Path:
    """Accuracy per confidence bin against the diagonal, before and after T, side by side."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 3.8), sharey=True)
    _panel(a, calibration["before"], "before", BASE)
    _panel(b, calibration["after"], f"after (T={calibration['temperature']:.2f})", GOOD)
    if title:
        fig.suptitle(title, fontweight="bold")
    return _save(fig, path)


def calibration_caption(test: dict) -> str:
    """One HTML note under the diagram: ECE and NLL before → after, T and what it came from."""
    c = test.get("calibration")
    if not c:
        return ""
    text = (f"Calibration on {c.get('n', '?')} test images: ECE {c['before']['ece']:.3f} → "
            f"{c['after']['ece']:.3f}, NLL {c['before']['nll']:.3f} → {c['after']['nll']:.3f} "
            f"with temperature T = {c['temperature']:.3f} (fitted on {c.get('fitted_on')}). "
            "Bars: accuracy per confidence bin; on the dashed diagonal confidence is honest.")
    return f'<p class="note">{html.escape(text)}</p>'
