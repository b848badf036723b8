"""results/verdict.py: the words of a comparison, from hand-made rows and pairs."""

from __future__ import annotations

from transferlab.results.verdict import (
    fmt_p,
    pair_line,
    per_class_note,
    recommend,
    transfer_warnings,
)


def row(name: str, acc: float, wall: float, gain: float | None = None) -> dict:
    return {"strategy": name, "accuracy": acc, "rmse": None, "wall_seconds": wall,
            "transfer_gain": gain}


def pair(a: str, b: str, gain: float, lo: float, hi: float, p: float) -> dict:
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "indistinguishable"
    return {"a": a, "b": b, "gain": gain, "ci95": [lo, hi], "p_value": p,
            "test": "McNemar exact", "verdict": verdict}


ROWS = [row("linear-probe", 0.80, 10.0, 0.06), row("finetune", 0.855, 40.0, 0.115),
        row("lp-ft", 0.851, 45.0, 0.111), row("scratch", 0.74, 50.0)]
PAIRS = [pair("linear-probe", "scratch", 0.06, 0.05, 0.07, 1e-9),
         pair("finetune", "scratch", 0.115, 0.104, 0.126, 1e-12),
         pair("lp-ft", "scratch", 0.111, 0.1, 0.122, 1e-12),
         pair("linear-probe", "finetune", -0.055, -0.065, -0.045, 1e-6),
         pair("linear-probe", "lp-ft", -0.051, -0.06, -0.04, 1e-6),
         pair("finetune", "lp-ft", 0.004, -0.004, 0.012, 0.41)]


def test_best_with_an_indistinguishable_slower_rival_and_a_fast_alternative():
    assert recommend(ROWS, PAIRS, "scratch") == (
        "use finetune: +0.115 [+0.104, +0.126] over scratch; lp-ft is indistinguishable from "
        "it (p = 0.41); linear-probe is 4.0x faster at -0.055 accuracy")


def test_an_indistinguishable_faster_strategy_is_preferred_and_says_why():
    rows = [dict(r) for r in ROWS]
    rows[2]["wall_seconds"] = 20.0  # lp-ft now twice as fast as finetune
    assert recommend(rows, PAIRS, "scratch") == (
        "use lp-ft: +0.111 [+0.100, +0.122] over scratch; indistinguishable from finetune "
        "(p = 0.41) and 2.0x faster; linear-probe is 2.0x faster at -0.051 accuracy")


def test_nothing_beat_scratch_significantly():
    rows = [row("finetune", 0.75, 40.0, 0.01), row("scratch", 0.74, 50.0)]
    pairs = [pair("finetune", "scratch", 0.01, -0.01, 0.03, 0.3)]
    assert recommend(rows, pairs, "scratch") == (
        "transfer did not help on this data: no strategy beat scratch beyond its 95% interval "
        "(closest: finetune, +0.010 [-0.010, +0.030], p = 0.3)")


def test_no_scratch_run_and_regression_wording():
    rows = [{"strategy": "finetune", "accuracy": None, "rmse": 0.5, "wall_seconds": 5.0},
            {"strategy": "head", "accuracy": None, "rmse": 0.7, "wall_seconds": 1.0}]
    pairs = [pair("finetune", "head", 0.2, 0.1, 0.3, 0.001)]
    assert recommend(rows, pairs, None) == (
        "use finetune: rmse 0.500 (no scratch run, so no transfer gain); head is 5.0x faster "
        "at RMSE +0.200")
    assert recommend([{"strategy": "x", "accuracy": None, "rmse": None}], [], None).startswith(
        "no strategy produced")


def test_negative_transfer_warns_only_when_significant():
    rows = [row("a", 0.70, 1.0, -0.04), row("b", 0.72, 1.0, -0.02), row("scratch", 0.74, 1.0)]
    pairs = [pair("a", "scratch", -0.04, -0.06, -0.02, 0.001),
             pair("b", "scratch", -0.02, -0.05, 0.01, 0.2)]
    warnings, notes = transfer_warnings(rows, pairs, "scratch")
    assert len(warnings) == 1 and warnings[0].startswith("negative transfer: a is 0.0400 below")
    assert "[-0.060, -0.020], p = 0.001" in warnings[0]
    assert len(notes) == 1 and "b is 0.0200 below scratch, within the noise" in notes[0]
    # no predictions to test: the point estimate still warns
    assert len(transfer_warnings(rows, [], "scratch")[0]) == 2


def test_pair_lines_and_p_values():
    assert fmt_p(0.0004) == "p < 0.001" and fmt_p(0.41) == "p = 0.41" and fmt_p(1.0) == "p = 1"
    assert pair_line(PAIRS[1], "accuracy") == (
        "finetune vs scratch: +0.115 [+0.104, +0.126], McNemar p < 0.001: transfer helped")
    assert pair_line(PAIRS[3], "accuracy").endswith(": linear-probe worse")
    assert pair_line(PAIRS[5], "accuracy").endswith("p = 0.41: indistinguishable")
    assert per_class_note({"strategy": "ft", "negative": ["cat", "dog"]}) == (
        "ft loses to scratch on class(es) cat, dog (per-class recall, interval below 0)")
    assert per_class_note({"strategy": "ft", "negative": []}) is None


def test_a_regression_comparison_is_judged_by_rmse():
    import numpy as np

    from transferlab.api.compare import build_report, format_table
    from transferlab.api.runner import StrategyResult
    from transferlab.results.stats import metric_intervals

    rng = np.random.default_rng(0)
    y = rng.normal(size=200)

    def result(name: str, noise: float, wall: float) -> StrategyResult:
        pred = y + rng.normal(0, noise, 200)
        rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
        metrics = {"rmse": rmse, "mae": 0.0, "r2": 0.0, "n": 200,
                   "ci95": metric_intervals(y, pred, None)}
        return StrategyResult(name, metrics, wall, wall, None, None, y, pred)

    report = build_report([result("finetune", 0.2, 5.0), result("scratch", 1.0, 9.0)], None)
    ft = report.rows[0]
    assert ft["transfer_gain"] > 0.5 and ft["verdict"] == "transfer helped"
    assert ft["gain_ci95"][0] > 0 and report.pairs[0]["test"] == "paired bootstrap"
    assert report.recommendation.startswith("use finetune: RMSE -0.")
    lines = format_table(report).splitlines()
    assert lines[0].split()[:2] == ["strategy", "rmse"] and "[" in lines[1]
