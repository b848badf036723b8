"""Strategies judged on the same test images: paired gains, McNemar, per-class gain.

`compare` calls `paired_analysis` with the predictions it holds in memory, and the report calls
it with predictions.npz when a comparison.json predates these fields. Gains are in the primary
metric's "higher is better" units, as `transfer_gain` always was: accuracy difference for
classification, scratch RMSE minus the strategy's RMSE for regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from transferlab.results import stats

PAIRED_METHOD = ("paired bootstrap over {n} test images, {b} resamples, percentile "
                 "(the same resampled images for both strategies)")


def paired_analysis(names: Sequence[str], y_true: np.ndarray, preds: Sequence[np.ndarray],
                    classes: list[str] | None, baseline: str | None,
                    resamples: int = stats.RESAMPLES, seed: int = stats.SEED) -> dict:
    """Every strategy vs the baseline, every pair of other strategies, and the per-class gain
    of the best one vs the baseline (JSON-ready). `classes` None means regression."""
    n = len(y_true)
    if classes is None:
        reg = stats.regression_samples(y_true, preds, resamples, seed)
        scores = {m: -s["rmse"] for m, s in zip(names, reg, strict=True)}
        points = {m: -float(np.sqrt(np.mean((np.asarray(p, float) - y_true) ** 2)))
                  for m, p in zip(names, preds, strict=True)}
        samples = None
    else:
        samples = dict(zip(names, stats.classification_samples(
            y_true, preds, len(classes), resamples, seed), strict=True))
        scores = {m: s.accuracy for m, s in samples.items()}
        points = {m: float(np.mean(np.asarray(p) == y_true))
                  for m, p in zip(names, preds, strict=True)}
    correct = None if classes is None else {
        m: np.asarray(p) == y_true for m, p in zip(names, preds, strict=True)}
    others = [m for m in names if m != baseline]
    pairs = [(m, baseline) for m in others] if baseline in names else []
    pairs += list(combinations(others, 2))
    out = {"method": PAIRED_METHOD.format(n=n, b=resamples),
           "pairs": [pair(a, b, points, scores, correct) for a, b in pairs],
           "per_class_gain": None}
    if samples is not None and baseline in names and others:
        best = max(others, key=lambda m: points[m])
        out["per_class_gain"] = per_class_gain(
            best, baseline, y_true, dict(zip(names, preds, strict=True)), samples, classes)
    return out


def pair(a: str, b: str, points: dict, scores: dict, correct: dict | None) -> dict:
    """A vs B: gain (A - B), its paired interval, a p-value and which side of 0 it is on."""
    ci = stats.percentile_interval(scores[a] - scores[b])
    if correct is not None:
        p, test = stats.mcnemar(correct[a], correct[b])
    else:
        p, test = stats.bootstrap_p(scores[a] - scores[b]), "paired bootstrap"
    return {"a": a, "b": b, "gain": points[a] - points[b], "ci95": stats.as_list(ci),
            "p_value": p, "test": test, "verdict": stats.direction(ci)}


def per_class_gain(strategy: str, baseline: str, y_true: np.ndarray, preds: dict,
                   samples: dict, classes: list[str]) -> dict:
    """Recall of `strategy` minus recall of `baseline`, class by class, with paired intervals.

    A class whose whole interval is below 0 is significant negative transfer. The intervals
    are per class, not adjusted for looking at many classes at once.
    """
    diff = samples[strategy].recall - samples[baseline].recall
    rows = []
    for k, name in enumerate(classes):
        mask = y_true == k
        support = int(mask.sum())
        gain = (float(np.mean(preds[strategy][mask] == k) - np.mean(preds[baseline][mask] == k))
                if support else None)
        ci = stats.percentile_interval(diff[:, k]) if support else None
        rows.append({"class": name, "support": support, "gain": gain,
                     "ci95": stats.as_list(ci), "verdict": stats.direction(ci)})
    return {"strategy": strategy, "baseline": baseline, "metric": "recall",
            "classes": rows, "negative": [r["class"] for r in rows if r["verdict"] == "worse"],
            "note": "per-class paired bootstrap intervals, not adjusted for multiple classes"}


def find_pair(pairs: list[dict], a: str, b: str) -> dict | None:
    """The A-vs-B entry of `pairs`, turned around when it was stored as B vs A."""
    for p in pairs:
        if (p["a"], p["b"]) == (a, b):
            return p
        if (p["a"], p["b"]) == (b, a):
            ci = p.get("ci95")
            flip = {"better": "worse", "worse": "better"}
            return p | {"a": a, "b": b, "gain": -p["gain"],
                        "ci95": None if ci is None else [-ci[1], -ci[0]],
                        "verdict": flip.get(p["verdict"], p["verdict"])}
    return None
