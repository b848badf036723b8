"""The `transferlab layers` picture: accuracy against k copied stage groups, AnB and AnB+.

A plot in the style of plots.py and a small self-contained report.html (the page of a layers
run: it has no per-strategy metrics, so the full report of html.py does not apply).
"""

from __future__ import annotations

import base64
from pathlib import Path

from transferlab.results.report.html import CSS
from transferlab.results.report.plots import GOOD, NEUTRAL, _save, plt
from transferlab.results.report.text import esc, fmt


def _series(rows: list[dict], key: str) -> tuple[list[int], list[float], list[list[float]]]:
    """k, means and [below, above] error-bar lengths (0 where one seed has no interval)."""
    ks, means, err = [], [], [[], []]
    for r in rows:
        s = r[key]
        if s.get("mean") is None:
            continue
        ks.append(r["k"])
        means.append(s["mean"])
        lo, hi = s["ci95"] or (s["mean"], s["mean"])
        err[0].append(s["mean"] - lo)
        err[1].append(hi - s["mean"])
    return ks, means, err


def layers_plot(data: dict, path: Path) -> Path:
    """Test accuracy vs k: frozen (AnB) and fine-tuned (AnB+), 95% t-intervals as bars."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for key, label, colour in (("frozen", "copied groups frozen (AnB)", NEUTRAL),
                               ("finetuned", "all fine-tuned (AnB+)", GOOD)):
        ks, means, err = _series(data["rows"], key)
        ax.errorbar(ks, means, yerr=err, marker="o", capsize=3, label=label, color=colour)
    groups = data["groups"]
    ks = [r["k"] for r in data["rows"]]
    ax.set_xticks(ks, [f"{k}\n{groups[k - 1] if k else 'none'}" for k in ks], fontsize=8)
    low, high = ax.get_ylim()  # a t-interval of 2 seeds may reach past [0, 1]
    ax.set_ylim(max(low, 0.0), min(high, 1.0))
    n = len(data["seeds"])
    ax.set(xlabel="k = stage groups copied from the backbone (last one named)",
           ylabel="test accuracy",
           title=f"which layers transfer: {data['backbone']} ({n} seed{'s' * (n > 1)})")
    ax.legend(fontsize=9)
    return _save(fig, path)


def layers_table_html(data: dict) -> str:
    def cell(s: dict) -> str:
        if s.get("ci95") is None:
            return fmt(s.get("mean"))
        lo, hi = s["ci95"]
        return f"{fmt(s['mean'])} [{lo:.3f}, {hi:.3f}]"

    rows = "".join(
        f"<tr><td>{r['k']}</td><td>{esc(data['groups'][r['k'] - 1] if r['k'] else '-')}</td>"
        f"<td>{cell(r['frozen'])}</td><td>{cell(r['finetuned'])}</td></tr>"
        for r in data["rows"])
    return ("<table><tr><th>k</th><th>copied up to</th><th>frozen (AnB)</th>"
            f"<th>fine-tuned (AnB+)</th></tr>{rows}</table>")


def write_layers_report(run_dir: Path, data: dict) -> Path:
    """RUN/layers.png and RUN/report.html (the plot embedded, the table, the method)."""
    png = layers_plot(data, Path(run_dir) / "layers.png")
    uri = base64.b64encode(png.read_bytes()).decode()
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>layers: "
            f"{esc(data['backbone'])}</title><style>{CSS}</style></head><body>"
            f"<header><h1>Which layers transfer: {esc(data['backbone'])}</h1></header><main>"
            f"<section><h2>Accuracy against copied stage groups</h2>"
            f"<img alt='accuracy vs k' src='data:image/png;base64,{uri}'>"
            f"{layers_table_html(data)}<p>{esc(data['method'])}; seeds "
            f"{esc(', '.join(map(str, data['seeds'])))}; {data['seconds']} s.</p></section>"
            "</main></body></html>")
    out = Path(run_dir) / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
