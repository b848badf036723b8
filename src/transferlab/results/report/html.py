"""report.html: one self-contained page that answers "did transfer beat scratch?" at a glance.

The page carries its images as base64 data URIs and its CSS inline, so it can be mailed,
attached to an issue or opened from a CI artifact without the run folder next to it. The order
is fixed by what a reader needs first: the headline, any negative-transfer warning, the table,
then the evidence (plots), then what produced it (config, data, environment).
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml

from transferlab.results.metrics import primary_metric, rank_score
from transferlab.results.report import calibration_plot, plots
from transferlab.results.report.health_section import health_block
from transferlab.results.report.rundata import LoadedRun, StrategyRun, load_run
from transferlab.results.report.source_section import source_block
from transferlab.results.report.text import esc, fmt
from transferlab.results.report.verdict_section import recommendation_line, verdict_section

CSS = """
:root{--fg:#1a202c;--muted:#4a5568;--line:#e2e8f0;--bg:#f7fafc;--good:#276749;--bad:#c53030;
--accent:#2b6cb0}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header{background:#1a365d;color:#fff;padding:22px 32px}
header h1{margin:0;font-size:22px;font-weight:600}
header .sub{color:#bee3f8;font-size:13px;margin-top:2px}
header .headline{font-size:20px;margin-top:12px;font-weight:600}
main{max-width:1180px;margin:0 auto;padding:20px 24px 60px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:18px 22px;
margin:18px 0}
h2{margin:0 0 12px;font-size:18px;border-bottom:2px solid var(--line);padding-bottom:6px}
h3{margin:18px 0 8px;font-size:16px;color:var(--accent)}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#edf2f7;font-weight:600}
tr.best td{background:#f0fff4;font-weight:600}
td.good{color:var(--good);font-weight:600}td.bad{color:var(--bad);font-weight:700}
.warn{background:#fff5f5;border:2px solid var(--bad);border-left:8px solid var(--bad);
border-radius:6px;padding:12px 16px;margin:0 0 16px;color:#742a2a}
.warn strong{font-size:16px;color:var(--bad)}
.warn ul{margin:6px 0 0;padding-left:20px}
.note{color:var(--muted);font-size:13px}
.plot{margin:10px 0;text-align:center}
.plot img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:8px 24px}
pre{background:#f7fafc;border:1px solid var(--line);border-radius:6px;padding:10px;
font-size:12.5px;overflow:auto;max-height:420px}
details summary{cursor:pointer;font-weight:600;margin:6px 0}
.kv td:first-child{color:var(--muted);width:180px}.kv td{text-align:left}
.left th,.left td{text-align:left}
.badge{display:inline-block;background:var(--bad);color:#fff;border-radius:12px;
padding:2px 12px;font-size:14px;margin-left:10px;vertical-align:middle}
.summary{color:var(--muted);margin:-4px 0 6px;font-size:14px}
"""

Plots = dict[str, Path | str | None]  # name -> PNG, error text, or None (nothing to draw)


# -- plots -----------------------------------------------------------------------------------
def _attempt(fn: Callable[..., Path | None], *args: object) -> Path | str | None:
    """One failed plot becomes a note in the page instead of costing the whole report."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - any plotting bug must not lose the report
        warnings.warn(f"plot {fn.__name__} failed: {exc}", stacklevel=2)
        return f"{fn.__name__} failed: {type(exc).__name__}: {exc}"


def strategy_plots(s: StrategyRun, out: Path) -> Plots:
    """Every plot one strategy's files allow; absent inputs give None, not an error."""
    stem = out / s.name
    test = s.test
    result: Plots = {"curves": None, "confusion": None, "per_class": None, "wrong": None,
                     "scatter": None}
    if s.history:
        result["curves"] = _attempt(plots.learning_curves, s.history,
                                    Path(f"{stem}-learning-curves.png"), s.name)
    if test.get("confusion_matrix"):
        result["confusion"] = _attempt(plots.confusion_matrix, test["confusion_matrix"],
                                       s.classes, Path(f"{stem}-confusion.png"))
    if test.get("per_class"):
        result["per_class"] = _attempt(plots.per_class_bars, test["per_class"],
                                       Path(f"{stem}-per-class.png"))
    if s.predictions is not None and s.is_regression:
        result["scatter"] = _attempt(plots.regression_scatter, s.predictions,
                                     Path(f"{stem}-scatter.png"))
    elif s.predictions is not None:
        result["wrong"] = _attempt(plots.wrong_grid, s.predictions, s.classes,
                                   Path(f"{stem}-wrong.png"))
    if test.get("calibration"):
        result["calibration"] = _attempt(calibration_plot.reliability_diagram,
                                         test["calibration"], Path(f"{stem}-calibration.png"))
    return result


def render_plots(run: LoadedRun, out: Path) -> dict[str, Plots]:
    """All PNGs of a run under `out` (RUN/plots), keyed by strategy; "" holds run-wide plots."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):  # a redraw must not leave plots of a previous report behind
        old.unlink()
    result: dict[str, Plots] = {"": {"strategies": None}}
    if run.comparison and run.comparison.get("rows"):
        result[""]["strategies"] = _attempt(plots.strategy_bars, run.comparison["rows"],
                                            run.comparison.get("baseline"),
                                            out / "strategies.png")
    for s in run.strategies:
        result[s.name] = strategy_plots(s, out)
    return result


def img(plot: Path | str | None, alt: str) -> str:
    """Embed the PNG as a data URI, so the page stays readable when mailed or moved alone."""
    if plot is None:
        return ""
    if isinstance(plot, str):
        return f'<p class="note">plot not drawn: {esc(plot)}</p>'
    data = base64.b64encode(Path(plot).read_bytes()).decode("ascii")
    return (f'<div class="plot"><img alt="{esc(alt)}" '
            f'src="data:image/png;base64,{data}"></div>')


# -- sections --------------------------------------------------------------------------------
def headline(run: LoadedRun) -> str:
    """The one sentence a reader should leave with."""
    rows = (run.comparison or {}).get("rows") or []
    if run.kind == "compare" and rows:
        return compare_headline(run, rows) + warning_badge(run) + recommendation_line(run)
    return fit_headline(run)


def warning_badge(run: LoadedRun) -> str:
    n = len((run.comparison or {}).get("warnings") or [])
    return (f' <span class="badge">⚠ negative transfer in {n} '
            f'strateg{"y" if n == 1 else "ies"}</span>' if n else "")


def compare_headline(run: LoadedRun, rows: list[dict]) -> str:
    baseline = (run.comparison or {}).get("baseline")
    base = next((r for r in rows if r["strategy"] == baseline), None)
    best = max(rows, key=rank_score)
    key = primary_metric(best).name
    text = f"Best: {best['strategy']} — test {key} {fmt(best.get(key))}"
    if base is not None and best is base:
        return esc(text + " · no transfer strategy beat training from scratch")
    if base is not None and best.get("transfer_gain") is not None:
        text += f", {best['transfer_gain']:+.4f} vs scratch ({fmt(base.get(key))})"
    return esc(text)


def fit_headline(run: LoadedRun) -> str:
    if not run.strategies:
        return "no results"
    s = run.strategies[0]
    t = s.test
    key = "rmse" if s.is_regression else "accuracy"
    parts = [f"{s.name} — test {key} {fmt(t.get(key))}"]
    if t.get("macro_f1") is not None:
        parts.append(f"macro-F1 {fmt(t['macro_f1'])}")
    if s.metrics.get("wall_seconds") is not None:
        parts.append(f"{s.metrics['wall_seconds']:.1f} s")
    return esc(" · ".join(parts))


def warning_box(run: LoadedRun) -> str:
    """Negative transfer is the finding a reader must not miss, so it gets a red box."""
    items = (run.comparison or {}).get("warnings") or []
    if not items:
        return ""
    lis = "".join(f"<li>{esc(w.removeprefix('negative transfer: '))}</li>" for w in items)
    return (f'<div class="warn" role="alert"><strong>⚠ Negative transfer</strong>'
            f"<ul>{lis}</ul></div>")


def comparison_table(run: LoadedRun) -> str:
    """Strategies with their gain over scratch; the best row highlighted, losses in red."""
    rows = (run.comparison or {}).get("rows") or []
    baseline = (run.comparison or {}).get("baseline")
    regression = any(r.get("accuracy") is None for r in rows)
    key = "rmse" if regression else "accuracy"
    bal = {s.name: s.test.get("balanced_accuracy") for s in run.strategies}
    best = max(rows, key=rank_score) if rows else None
    head = (f"<tr><th>strategy</th><th>test {key}</th><th>balanced acc.</th><th>macro-F1</th>"
            "<th>train s</th><th>wall s</th><th>transfer gain vs scratch</th></tr>")
    body = []
    for r in rows:
        gain = r.get("transfer_gain")
        if r["strategy"] == baseline:
            gain_td = '<td class="note">baseline</td>'
        elif gain is None:
            gain_td = "<td>–</td>"
        else:
            cls, mark = ("good", "") if gain >= 0 else ("bad", "⚠ ")
            gain_td = f'<td class="{cls}">{mark}{gain:+.4f}</td>'
        body.append(f'<tr class="{"best" if r is best else ""}"><td>{esc(r["strategy"])}</td>'
                    f"<td>{fmt(r.get(key))}</td><td>{fmt(bal.get(r['strategy']))}</td>"
                    f"<td>{fmt(r.get('macro_f1'))}</td><td>{fmt(r.get('train_seconds'), 1)}</td>"
                    f"<td>{fmt(r.get('wall_seconds'), 1)}</td>{gain_td}</tr>")
    note = ("" if baseline else '<p class="note">no scratch run in this comparison, so no '
            "transfer gain can be measured; add scratch to --strategies.</p>")
    return f"<table>{head}{''.join(body)}</table>{note}"


def metrics_table(s: StrategyRun) -> str:
    """A fit run has no baseline, so its headline table is the test metrics themselves."""
    keys = ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1",
            "loss", "mae", "rmse", "r2", "n")
    cells = [(k, fmt(s.test[k])) for k in keys if k in s.test]
    if s.metrics.get("wall_seconds") is not None:
        cells.append(("wall seconds", fmt(float(s.metrics["wall_seconds"]), 1)))
    head = "".join(f"<th>{esc(k.replace('_', ' '))}</th>" for k, _ in cells)
    vals = "".join(f"<td>{v}</td>" for _, v in cells)
    return f"<table><tr>{head}</tr><tr>{vals}</tr></table>"


def results_section(run: LoadedRun) -> str:
    if run.kind == "compare":
        return (f"<section><h2>Results</h2>{warning_box(run)}{comparison_table(run)}"
                f"{source_block(run)}</section>")
    body = metrics_table(run.strategies[0]) if run.strategies else ""
    return f"<section><h2>Test metrics</h2>{body}{source_block(run)}</section>"


def strategy_summary(run: LoadedRun, s: StrategyRun) -> str:
    """One line above a strategy's plots, so a reader scrolling past still sees its numbers."""
    t = s.test
    key = "rmse" if s.is_regression else "accuracy"
    parts = [f"test {key} {fmt(t.get(key))}"]
    if t.get("macro_f1") is not None:
        parts.append(f"macro-F1 {fmt(t['macro_f1'])}")
    row = next((r for r in (run.comparison or {}).get("rows", [])
                if r["strategy"] == s.name), {})
    if row.get("transfer_gain") is not None:
        parts.append(f"gain vs scratch {row['transfer_gain']:+.4f}")
    phases = [name for name, _, _ in plots.phase_spans(s.history)]
    if phases:
        parts.append("phases: " + " → ".join(phases))
    return f'<p class="summary">{esc(" · ".join(parts))}</p>'


def plots_section(run: LoadedRun, pngs: dict[str, Plots]) -> str:
    parts = ["<section><h2>Plots</h2>"]
    overall = pngs.get("", {}).get("strategies")
    if overall is not None:
        parts.append("<h3>Strategies side by side</h3>"
                     '<p class="note">Dashed line: the scratch baseline. Green beats it, red '
                     "loses to it.</p>" + img(overall, "score and wall time per strategy"))
    for s in run.strategies:
        p = pngs.get(s.name, {})
        parts.append(f"<h3>{esc(s.name)}</h3>{strategy_summary(run, s)}")
        parts.append(img(p.get("curves"), f"{s.name} learning curves"))
        parts.append(img(p.get("confusion"), f"{s.name} confusion matrix"))
        parts.append(img(p.get("per_class"), f"{s.name} per-class precision recall F1"))
        parts.append(img(p.get("scatter"), f"{s.name} predicted vs true"))
        parts.append(img(p.get("wrong"), f"{s.name} most confidently wrong test images"))
        if p.get("calibration"):
            parts.append(img(p["calibration"], f"{s.name} reliability diagram before/after T")
                         + calibration_plot.calibration_caption(s.test))
        if not any(p.values()):
            parts.append('<p class="note">no plottable files in this strategy folder.</p>')
    parts.append("</section>")
    return "".join(parts)


def config_section(run: LoadedRun) -> str:
    def block(title: str, data: dict, open_: bool = False) -> str:
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        return (f"<details{' open' if open_ else ''}><summary>{esc(title)}</summary>"
                f"<pre>{esc(text)}</pre></details>")

    parts = ["<section><h2>Resolved configuration</h2>"]
    if run.kind == "compare" and run.config:
        parts.append(block("run settings (config.yaml)", run.config, open_=True))
    for s in run.strategies:
        if s.config:
            parts.append(block(f"{s.name}: config, recipe and phases", s.config,
                               open_=run.kind == "fit"))
    parts.append("</section>")
    return "".join(parts)


def data_section(run: LoadedRun) -> str:
    data = run.data or {}
    splits = [(name, data.get(name)) for name in ("train", "val", "test") if data.get(name)]
    if not splits:
        return '<section><h2>Data</h2><p class="note">no data.json in this run.</p></section>'
    classes: list[str] = []
    for _, sp in splits:
        classes += [c for c in sp.get("class_counts") or {} if c not in classes]
    head = "<tr><th>class</th>" + "".join(f"<th>{esc(n)}</th>" for n, _ in splits) + "</tr>"
    rows = [f"<tr><td>{esc(c)}</td>" + "".join(
        f"<td>{fmt((sp.get('class_counts') or {}).get(c))}</td>" for _, sp in splits) + "</tr>"
        for c in classes]
    total = ("<tr><th>total images</th>"
             + "".join(f"<th>{fmt(sp.get('images'))}</th>" for _, sp in splits) + "</tr>")
    source = "".join(f"<li>{esc(n)}: {esc(sp.get('source', '?'))}, image shape "
                     f"{esc(sp.get('image_shape', '?'))}</li>" for n, sp in splits)
    return (f"<section><h2>Data</h2><ul>{source}</ul><table>{head}{''.join(rows)}{total}"
            f"</table>{skipped_block(splits)}{health_block(data)}</section>")


def skipped_block(splits: list[tuple[str, dict]]) -> str:
    bad = [(n, f) for n, sp in splits for f in sp.get("skipped_files") or []]
    count = sum(int(sp.get("skipped") or 0) for _, sp in splits)
    if not count and not bad:
        return '<p class="note">No bad files were skipped.</p>'
    rows = "".join(f"<tr><td>{esc(f.get('path', '?'))}</td><td>{esc(f.get('reason', ''))}</td>"
                   f"<td>{esc(n)}</td></tr>" for n, f in bad)
    return (f"<h3>Skipped bad files: {max(count, len(bad))}</h3><table class='left'>"
            f"<tr><th>file</th><th>reason</th><th>split</th></tr>{rows}</table>")


def environment_section(run: LoadedRun) -> str:
    env = run.environment
    if not env:
        return ""
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>"
                   for k, v in env.items())
    return f'<section><h2>Environment</h2><table class="kv">{rows}</table></section>'


def render_page(run: LoadedRun, pngs: dict[str, Plots]) -> str:
    title = f"transferlab {run.kind} report — {run.path.name}"
    made = datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><div class='sub'>{esc(run.path)} · report made "
            f"{made}</div><div class='headline'>{headline(run)}</div></header><main>"
            f"{results_section(run)}{verdict_section(run)}{plots_section(run, pngs)}"
            f"{config_section(run)}"
            f"{data_section(run)}{environment_section(run)}</main></body></html>")


def write_report(run_dir: Path) -> Path:
    """Write RUN/report.html (and its PNGs in RUN/plots/) for a compare or fit run folder."""
    run = load_run(Path(run_dir))
    pngs = render_plots(run, run.path / "plots")
    out = run.path / "report.html"
    out.write_text(render_page(run, pngs), encoding="utf-8")
    return out
