"""The report's verdict: intervals, paired tests, seeds, per-class gain and the recommendation.

Read from comparison.json; a comparison.json written before these fields existed is judged
again from each strategy's predictions.npz, so an old run's report gets the same section.
"""

from __future__ import annotations

import copy

from transferlab.results.report.rundata import LoadedRun
from transferlab.results.report.text import esc, fmt
from transferlab.results.verdict import fmt_ci, fmt_p, judge, transfer_word


def verdict_data(run: LoadedRun) -> dict:
    """comparison.json with its verdict fields, recomputed from predictions when missing."""
    comparison = run.comparison or {}
    if "pairs" in comparison or not comparison.get("rows"):
        return comparison
    rows = copy.deepcopy(comparison["rows"])
    preds = {s.name: (s.predictions["y_true"], s.predictions["y_pred"])
             for s in run.strategies
             if s.predictions and "y_true" in s.predictions and "y_pred" in s.predictions}
    regression = any(s.is_regression for s in run.strategies)
    classes = None if regression else next((s.classes for s in run.strategies if s.classes),
                                           None)
    first = run.config.get("seed")
    seeds = {s.name: [(first, s.test), *s.seeds.items()] for s in run.strategies if s.seeds}
    verdict = judge(rows, preds, classes, comparison.get("baseline"), seeds)
    return comparison | {"rows": rows, **verdict}


def recommendation_line(run: LoadedRun) -> str:
    """The recommendation under the report's headline (compare runs only)."""
    text = verdict_data(run).get("recommendation") if run.kind == "compare" else None
    return f'<div class="sub">Recommendation: {esc(text)}</div>' if text else ""


def ci_cell(value: float | None, ci: list[float] | None, signed: bool = False) -> str:
    if value is None:
        return "<td>–</td>"
    text = f"{value:+.4f}" if signed else fmt(float(value))
    return f"<td>{text} <span class='note'>{esc(fmt_ci(ci, signed)) if ci else ''}</span></td>"


def interval_table(data: dict, run: LoadedRun) -> str:
    rows = data.get("rows") or []
    tests = {s.name: s.test for s in run.strategies}
    regression = any(r.get("accuracy") is None for r in rows)
    keys = ("rmse", "mae") if regression else ("accuracy", "balanced_accuracy", "macro_f1")
    head = "".join(f"<th>{esc(k.replace('_', ' '))} [95%]</th>" for k in keys)
    body = []
    for r in rows:
        test = tests.get(r["strategy"]) or r
        ci = test.get("ci95") or r.get("ci95") or {}
        cells = "".join(ci_cell(test.get(k), ci.get(k)) for k in keys)
        if r["strategy"] == data.get("baseline"):
            gain = '<td class="note">baseline</td><td></td><td></td>'
        else:
            cls = {"transfer helped": "good", "transfer hurt": "bad"}.get(r.get("verdict"), "")
            gain = (ci_cell(r.get("transfer_gain"), r.get("gain_ci95"), signed=True)
                    + f"<td>{esc(fmt_p(r['gain_p'])) if r.get('gain_p') is not None else '–'}"
                    f"</td><td class='{cls}'>{esc(r.get('verdict') or '–')}</td>")
        body.append(f"<tr><td>{esc(r['strategy'])}</td>{cells}{gain}</tr>")
    return (f"<table><tr><th>strategy</th>{head}<th>gain vs scratch [95%]</th><th>p</th>"
            f"<th>verdict</th></tr>{''.join(body)}</table>")


def pairs_table(data: dict) -> str:
    pairs = data.get("pairs") or []
    if not pairs:
        return ""
    body = "".join(
        f"<tr><td>{esc(p['a'])} vs {esc(p['b'])}</td>"
        f"{ci_cell(p['gain'], p.get('ci95'), signed=True)}"
        f"<td>{esc(fmt_p(p.get('p_value')))}</td><td>{esc(p.get('test', ''))}</td>"
        f"<td>{esc(transfer_word(p['verdict']) if p['b'] == 'scratch' else p['verdict'])}</td>"
        "</tr>" for p in pairs)
    return ("<h3>Paired comparisons on the same test images</h3><table><tr><th>pair</th>"
            "<th>gain (first − second) [95%]</th><th>p</th><th>test</th><th>verdict</th></tr>"
            f"{body}</table>")


def seeds_table(data: dict) -> str:
    rows = [r for r in data.get("rows") or [] if r.get("seeds")]
    if not rows:
        return ""
    metric = "rmse" if any(r.get("accuracy") is None for r in rows) else "accuracy"
    body = []
    for r in rows:
        s = r["seeds"].get(metric) or {}
        if not s:
            continue
        points = ", ".join(f"seed {k}: {v:.4f}" for k, v in zip(r["seeds"]["seeds"],
                                                                 s["values"], strict=False))
        sd = "–" if s.get("sd") is None else f"{s['sd']:.4f}"
        body.append(f"<tr><td>{esc(r['strategy'])}</td><td>{fmt(s.get('mean'))}</td>"
                    f"<td>{sd}</td><td>{esc(fmt_ci(s.get('ci95'), False))}</td>"
                    f"<td>{esc(points)}</td></tr>")
    return (f"<h3>Across training seeds ({esc(metric)})</h3><table><tr><th>strategy</th>"
            "<th>mean</th><th>sd</th><th>95% t-interval</th><th>each seed</th></tr>"
            f"{''.join(body)}</table>")


def per_class_table(data: dict) -> str:
    pc = data.get("per_class_gain")
    if not pc:
        return ""
    body = "".join(
        f"<tr><td>{esc(c['class'])}</td><td>{c['support']}</td>"
        f"{ci_cell(c.get('gain'), c.get('ci95'), signed=True)}"
        f"<td class='{ {'worse': 'bad', 'better': 'good'}.get(c['verdict'], '') }'>"
        f"{esc(transfer_word(c['verdict']))}</td></tr>" for c in pc["classes"])
    warn = ""
    if pc.get("negative"):
        items = "".join(f"<li>{esc(c)}</li>" for c in pc["negative"])
        warn = (f'<div class="warn"><strong>⚠ Significant negative transfer on '
                f"{len(pc['negative'])} class(es)</strong><ul>{items}</ul></div>")
    return (f"<h3>Per-class gain: {esc(pc['strategy'])} vs {esc(pc['baseline'])}</h3>{warn}"
            "<table><tr><th>class</th><th>test images</th><th>recall gain [95%]</th>"
            f"<th>verdict</th></tr>{body}</table><p class='note'>{esc(pc.get('note', ''))}</p>")


def fit_intervals(run: LoadedRun) -> str:
    ci = run.strategies[0].test.get("ci95") if run.strategies else None
    if not ci:
        return ""
    test = run.strategies[0].test
    cells = "".join(f"<tr><td>{esc(k.replace('_', ' '))}</td>{ci_cell(test.get(k), v)}</tr>"
                    for k, v in ci.items() if isinstance(v, list))
    return (f"<section><h2>Uncertainty</h2><table class='left'><tr><th>metric</th>"
            f"<th>test value [95% interval]</th></tr>{cells}</table>"
            f"<p class='note'>{esc(ci.get('method', ''))}</p></section>")


def verdict_section(run: LoadedRun) -> str:
    """The section after the results table: how sure each number is, and what to use."""
    if run.kind != "compare":
        return fit_intervals(run)
    data = verdict_data(run)
    if not data.get("rows"):
        return ""
    parts = ["<section><h2>Verdict</h2>"]
    if data.get("recommendation"):
        parts.append(f"<p><strong>Recommendation:</strong> {esc(data['recommendation'])}</p>")
    parts += [interval_table(data, run), pairs_table(data), seeds_table(data),
              per_class_table(data)]
    notes = "".join(f"<li>{esc(n)}</li>" for n in data.get("notes") or [])
    if notes:
        parts.append(f"<ul class='note'>{notes}</ul>")
    methods = data.get("methods") or {}
    said = [f"{k}: {v}" for k, v in methods.items() if v]
    if said:
        parts.append(f"<p class='note'>{esc('; '.join(said))}. A gain counts only when its "
                     "paired 95% interval excludes 0; otherwise the two are "
                     "indistinguishable on this test set.</p>")
    parts.append("</section>")
    return "".join(parts)
