"""The words of a comparison: verdicts, negative-transfer warnings, and one recommendation.

Pure functions of comparison rows and paired results (results/paired.py), so the terminal,
comparison.json and the report say the same thing. A difference counts only when its paired
95% interval excludes 0; a point estimate on the wrong side of 0 inside the noise is a note,
not a warning.
"""

from __future__ import annotations

import math

import numpy as np

from transferlab.results import stats
from transferlab.results.metrics import primary_metric, rank_score
from transferlab.results.paired import find_pair, paired_analysis

WORDS = {"better": "transfer helped", "worse": "transfer hurt",
         "indistinguishable": "indistinguishable"}


def transfer_word(verdict: str | None) -> str | None:
    """A strategy-vs-scratch verdict in words."""
    return None if verdict is None else WORDS.get(verdict, verdict)


def fmt_p(p: float | None) -> str:
    if p is None:
        return "p = ?"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def fmt_ci(ci: list[float] | None, signed: bool = True, digits: int = 3) -> str:
    if ci is None:
        return "[no interval]"
    f = f"{'+' if signed else ''}.{digits}f"
    return f"[{ci[0]:{f}}, {ci[1]:{f}}]"


def gain_text(metric: str, gain: float, ci: list[float] | None) -> str:
    """A gain in score units, said in the metric's own terms (RMSE: lower is better)."""
    if metric == "rmse":
        flipped = None if ci is None else [-ci[1], -ci[0]]
        return f"RMSE {-gain:+.3f} {fmt_ci(flipped)}"
    return f"{gain:+.3f} {fmt_ci(ci)}"


def pair_line(p: dict, metric: str) -> str:
    """`finetune vs scratch: +0.115 [+0.104, +0.126], McNemar p < 0.001: transfer helped`."""
    word = p["verdict"] if p["b"] != "scratch" else transfer_word(p["verdict"])
    if p["b"] != "scratch" and p["verdict"] != "indistinguishable":
        word = f"{p['a']} {p['verdict']}"
    test = "McNemar " if p.get("test", "").startswith("McNemar") else "bootstrap "
    return (f"{p['a']} vs {p['b']}: {gain_text(metric, p['gain'], p.get('ci95'))}, "
            f"{test}{fmt_p(p.get('p_value'))}: {word}")


def transfer_warnings(rows: list[dict], pairs: list[dict], baseline: str | None
                      ) -> tuple[list[str], list[str]]:
    """(warnings, notes): negative transfer is a warning only when it is significant; below
    scratch inside the noise is a note. Without predictions to test, the point estimate warns
    as before (significance cannot be measured, so the loss is not hidden)."""
    warnings: list[str] = []
    notes: list[str] = []
    for r in rows:
        gain = r.get("transfer_gain")
        if baseline is None or r["strategy"] == baseline or gain is None:
            continue
        p = find_pair(pairs, r["strategy"], baseline)
        who = r["strategy"] + (f" (backbone {r['backbone']})" if r.get("backbone") else "")
        if p is None and gain < 0:
            warnings.append(f"negative transfer: {who} is {-gain:.4f} below scratch "
                            "on the test set; the pretrained weights hurt on this data")
        elif p is not None and p["verdict"] == "worse":
            warnings.append(f"negative transfer: {who} is {-gain:.4f} below scratch "
                            f"on the test set ({fmt_ci(p['ci95'])}, {fmt_p(p['p_value'])}); "
                            "the pretrained weights hurt on this data")
        elif p is not None and gain < 0:
            notes.append(f"{r['strategy']} is {-gain:.4f} below scratch, within the noise "
                         f"({fmt_ci(p['ci95'])}, {fmt_p(p['p_value'])}): not significant "
                         "negative transfer")
    return warnings, notes


def per_class_note(per_class: dict | None) -> str | None:
    if not per_class or not per_class.get("negative"):
        return None
    return (f"{per_class['strategy']} loses to scratch on class(es) "
            f"{', '.join(per_class['negative'])} (per-class recall, interval below 0)")


def faster(slow: dict, fast: dict) -> str:
    a, b = slow.get("wall_seconds") or 0.0, fast.get("wall_seconds") or 0.0
    if b <= 0 or a <= b:
        return "faster"
    ratio = a / b
    return f"{ratio:.0f}x faster" if ratio >= 10 else f"{ratio:.1f}x faster"


def recommend(rows: list[dict], pairs: list[dict], baseline: str | None) -> str:
    """One sentence weighing the primary metric, its paired uncertainty and wall time.

    The best strategy is the highest primary metric among those that beat scratch
    significantly (all strategies when there is no scratch run). A strategy indistinguishable
    from it and faster is preferred, and the sentence says why; the fastest other strategy is
    named with its cost. When no strategy beats scratch significantly the sentence says so.
    """
    ranked = [r for r in rows if math.isfinite(rank_score(r))]
    if not ranked:
        return "no strategy produced a test metric, so there is nothing to recommend"
    metric = primary_metric(ranked[0]).name
    base = next((r for r in ranked if r["strategy"] == baseline), None)
    transfer = [r for r in ranked if r is not base]
    pool, vs = ranked, {}
    if base is not None:
        vs = {r["strategy"]: find_pair(pairs, r["strategy"], base["strategy"]) for r in transfer}
        pool = [r for r in transfer if vs[r["strategy"]] and
                vs[r["strategy"]]["verdict"] == "better"]
        if not pool:
            return no_help(transfer, base, vs, metric)
    top = max(pool, key=rank_score)
    ties = [(r, p) for r in pool if r is not top
            and (p := find_pair(pairs, r["strategy"], top["strategy"])) is not None
            and p["verdict"] == "indistinguishable"]
    quicker = [t for t in ties if (t[0].get("wall_seconds") or 0) < (top.get("wall_seconds") or 0)]
    choice = min(quicker, key=lambda t: t[0].get("wall_seconds") or 0)[0] if quicker else top
    parts = [f"use {choice['strategy']}: " + (
        gain_text(metric, vs[choice["strategy"]]["gain"], vs[choice["strategy"]]["ci95"])
        + f" over {base['strategy']}" if base is not None else
        f"{metric} {primary_metric(choice).value:.3f} (no scratch run, so no transfer gain)")]
    if choice is not top:
        p = find_pair(pairs, choice["strategy"], top["strategy"])
        parts.append(f"indistinguishable from {top['strategy']} ({fmt_p(p['p_value'])}) and "
                     f"{faster(top, choice)}")
    named = {choice["strategy"], top["strategy"]}
    for r, p in ties:
        if r["strategy"] not in named:
            parts.append(f"{r['strategy']} is indistinguishable from it ({fmt_p(p['p_value'])})")
            named.add(r["strategy"])
    others = [r for r in ranked if r["strategy"] not in named and
              (r.get("wall_seconds") or 0) < (choice.get("wall_seconds") or 0)]
    if others:
        fast = min(others, key=lambda r: r.get("wall_seconds") or 0)
        parts.append(f"{fast['strategy']} is {faster(choice, fast)} at "
                     f"{cost(metric, rank_score(fast) - rank_score(choice))}")
    return "; ".join(parts)


def cost(metric: str, score_delta: float) -> str:
    """What a faster strategy gives up, in the metric's own terms."""
    if metric == "rmse":
        return f"RMSE {-score_delta:+.3f}"
    return f"{score_delta:+.3f} {metric}"


def no_help(transfer: list[dict], base: dict, vs: dict, metric: str) -> str:
    text = (f"transfer did not help on this data: no strategy beat {base['strategy']} beyond "
            "its 95% interval")
    if transfer:
        closest = max(transfer, key=rank_score)
        p = vs.get(closest["strategy"])
        if p is not None:
            text += (f" (closest: {closest['strategy']}, {gain_text(metric, p['gain'], p['ci95'])}"
                     f", {fmt_p(p['p_value'])})")
    return text


SEED_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "rmse")


def seed_summary(per_seed: list[tuple[int, dict]]) -> dict:
    """Each seed's point and mean ± sd with a t-interval across seeds, per test metric."""
    out: dict = {"seeds": [s for s, _ in per_seed]}
    for key in SEED_METRICS:
        values = [m.get(key) for _, m in per_seed]
        if all(v is not None for v in values):
            out[key] = stats.seed_interval(values, bounds=None if key == "rmse" else (0.0, 1.0))
    return out


def judge(rows: list[dict], predictions: dict[str, tuple[np.ndarray, np.ndarray]],
          classes: list[str] | None, baseline: str | None,
          seed_metrics: dict[str, list[tuple[int, dict]]] | None = None) -> dict:
    """Paired tests, verdicts, warnings and the recommendation of a comparison.

    Adds to each row its verdict vs the baseline (gain_ci95, gain_p, verdict) and, with
    several seeds, its seed summary; returns the comparison-level fields. Strategies without
    predictions (a broken run) are left out of the paired tests. With several seeds the paired
    tests use the first seed's predictions (the run in RUN/<strategy>/).
    """
    names = [r["strategy"] for r in rows if r["strategy"] in predictions]
    truths = [predictions[n][0] for n in names]
    paired: dict = {"pairs": [], "per_class_gain": None, "method": None}
    if len(names) >= 2 and all(np.array_equal(truths[0], t) for t in truths[1:]):
        paired = paired_analysis(names, np.asarray(truths[0]),
                                 [np.asarray(predictions[n][1]) for n in names], classes,
                                 baseline if baseline in names else None)
    pairs = paired["pairs"]
    for r in rows:
        p = None if baseline is None else find_pair(pairs, r["strategy"], baseline)
        if p is not None:
            r.update(gain_ci95=p["ci95"], gain_p=p["p_value"],
                     verdict=transfer_word(p["verdict"]))
        if seed_metrics and len(seed_metrics.get(r["strategy"], [])) > 1:
            r["seeds"] = seed_summary(seed_metrics[r["strategy"]])
    warnings, notes = transfer_warnings(rows, pairs, baseline)
    note = per_class_note(paired["per_class_gain"])
    methods = {"paired": paired["method"]}
    if seed_metrics and any(len(v) > 1 for v in seed_metrics.values()):
        methods["seeds"] = ("t-interval across training seeds on the same split; paired tests "
                            "and per-class gains use the first seed's predictions")
    return {"warnings": warnings, "notes": notes + ([note] if note else []),
            "pairs": pairs, "per_class_gain": paired["per_class_gain"],
            "recommendation": recommend(rows, pairs, baseline), "methods": methods}
