"""Uncertainty of test metrics: bootstrap intervals, paired comparisons and seed intervals.

One test set is one sample of the images a model will meet, so a test accuracy is an estimate
with an error bar; two strategies judged on the same images are compared image by image
(paired), which is much tighter than comparing two separate intervals. Everything here is
numpy (plus the standard library): cheap enough to run after every fit, and vectorised so that
1000 resamples of 10,000 test images take well under a second.

Resampling is fixed by `seed`: the same (n, resamples, seed) draw the same indices, so the
bootstrap replicates of two prediction vectors made with one seed are paired, and the numbers
are the same on every machine and every rerun.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
EXACT_MCNEMAR_BELOW = 25  # discordant pairs: exact binomial below this, chi-square above
CHUNK_ELEMENTS = 2_000_000  # resampled indices held at once (16 MB of int64)

Interval = tuple[float, float]


def bootstrap_method(n: int, resamples: int = RESAMPLES) -> str:
    """The words every interval carries, so a reader knows what was resampled."""
    return f"bootstrap over {n} test images, {resamples} resamples, percentile"


def resample_indices(n: int, resamples: int = RESAMPLES, seed: int = SEED
                     ) -> Iterator[np.ndarray]:
    """Rows of resampled test indices, (chunk, n) at a time so memory stays bounded."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, CHUNK_ELEMENTS // max(n, 1)))
    for start in range(0, resamples, chunk):
        yield rng.integers(0, n, size=(min(chunk, resamples - start), n), dtype=np.int32)


@dataclass(frozen=True)
class ClassSamples:
    """Bootstrap replicates of one prediction vector's metrics, one entry per resample."""

    accuracy: np.ndarray  # (B,)
    balanced_accuracy: np.ndarray  # (B,)
    macro_f1: np.ndarray  # (B,)
    recall: np.ndarray  # (B, K); NaN where a class is absent from the resample


def counts_metrics(tp: np.ndarray, support: np.ndarray, predicted: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, balanced accuracy, macro-F1 and per-class recall from (..., K) counts.

    The definitions are results.metrics' (sklearn's): balanced accuracy averages recall over
    the classes present; macro-F1 averages F1 = 2TP / (support + predicted) over every class,
    0 where a class is neither present nor predicted (zero_division=0).
    """
    n = support.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        denom = support + predicted
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    present = support > 0
    balanced = np.nansum(np.where(present, recall, 0.0), -1) / np.maximum(present.sum(-1), 1)
    return tp.sum(-1) / np.maximum(n, 1), balanced, f1.mean(-1), recall


def classification_samples(y_true: np.ndarray, preds: Sequence[np.ndarray], num_classes: int,
                           resamples: int = RESAMPLES, seed: int = SEED
                           ) -> list[ClassSamples]:
    """Bootstrap replicates for each prediction vector, all on the same resampled indices.

    Per resample the confusion counts come from three bincounts over (resample, class) keys,
    not from sklearn in a loop.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    preds = [np.asarray(p, dtype=np.int64) for p in preds]
    k = num_classes
    parts: list[list[tuple]] = [[] for _ in preds]
    for idx in resample_indices(len(y_true), resamples, seed):
        b = len(idx)
        offset = (np.arange(b) * k)[:, None]
        yt = y_true[idx] + offset
        support = np.bincount(yt.ravel(), minlength=b * k).reshape(b, k)
        for i, p in enumerate(preds):
            yp = p[idx] + offset
            predicted = np.bincount(yp.ravel(), minlength=b * k).reshape(b, k)
            tp = np.bincount(yt[yt == yp], minlength=b * k).reshape(b, k)
            parts[i].append(counts_metrics(tp, support, predicted))
    return [ClassSamples(*(np.concatenate([c[j] for c in chunks]) for j in range(4)))
            for chunks in parts]


def regression_samples(y_true: np.ndarray, preds: Sequence[np.ndarray],
                       resamples: int = RESAMPLES, seed: int = SEED) -> list[dict]:
    """Bootstrap replicates of RMSE and MAE for each prediction vector (same indices)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    errors = [np.asarray(p, dtype=np.float64) - y_true for p in preds]
    out: list[dict[str, list]] = [{"rmse": [], "mae": []} for _ in preds]
    for idx in resample_indices(len(y_true), resamples, seed):
        for e, o in zip(errors, out, strict=True):
            o["rmse"].append(np.sqrt((e[idx] ** 2).mean(1)))
            o["mae"].append(np.abs(e[idx]).mean(1))
    return [{k: np.concatenate(v) for k, v in o.items()} for o in out]


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> Interval | None:
    """The central `level` interval of bootstrap replicates (NaNs ignored; None if all NaN)."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return None
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def as_list(interval: Interval | None) -> list[float] | None:
    """JSON form of an interval: [low, high] or None."""
    return None if interval is None else [float(interval[0]), float(interval[1])]


def metric_intervals(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None,
                     resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """95% intervals of the test metrics, ready for metrics.json under "ci95".

    `num_classes` None means regression (RMSE and MAE); otherwise accuracy, balanced accuracy
    and macro-F1. "method" says how they were made.
    """
    n = len(y_true)
    out: dict = {"method": bootstrap_method(n, resamples), "level": LEVEL}
    if n == 0:
        return out
    if num_classes is None:
        (s,) = regression_samples(y_true, [y_pred], resamples, seed)
        return out | {k: as_list(percentile_interval(v)) for k, v in s.items()}
    (c,) = classification_samples(y_true, [y_pred], num_classes, resamples, seed)
    return out | {"accuracy": as_list(percentile_interval(c.accuracy)),
                  "balanced_accuracy": as_list(percentile_interval(c.balanced_accuracy)),
                  "macro_f1": as_list(percentile_interval(c.macro_f1))}


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, str]:
    """Two-sided McNemar p-value for two classifiers on the same images, and its method."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    return mcnemar_counts(int(np.sum(a & ~b)), int(np.sum(~a & b)))


def mcnemar_counts(b: int, c: int) -> tuple[float, str]:
    """McNemar from the discordant counts: b = only A right, c = only B right.

    Few discordant pairs: the exact binomial test, p = 2 P(X <= min(b, c)), X ~ Bin(b+c, 1/2)
    (capped at 1). Otherwise chi-square with continuity correction, (|b - c| - 1)² / (b + c),
    one degree of freedom.
    """
    n = b + c
    if n == 0:
        return 1.0, "McNemar (no discordant images)"
    if n < EXACT_MCNEMAR_BELOW:
        tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2.0 ** n
        return min(1.0, 2 * tail), f"McNemar exact binomial (b={b}, c={c})"
    chi2 = max(abs(b - c) - 1, 0) ** 2 / n
    return math.erfc(math.sqrt(chi2 / 2)), f"McNemar chi-square, continuity-corrected " \
        f"(b={b}, c={c})"


def bootstrap_p(diff: np.ndarray) -> float:
    """Two-sided p-value of "no difference" from paired bootstrap replicates of a difference:
    twice the smaller share of replicates on either side of 0 (capped at 1)."""
    diff = np.asarray(diff, dtype=np.float64)
    if diff.size == 0:
        return 1.0
    return float(min(1.0, 2 * min(np.mean(diff <= 0), np.mean(diff >= 0))))


def direction(interval: Interval | list[float] | None) -> str:
    """"better" when the whole interval is above 0, "worse" when below, else
    "indistinguishable" (also when there is no interval)."""
    if interval is None:
        return "indistinguishable"
    lo, hi = interval
    return "better" if lo > 0 else "worse" if hi < 0 else "indistinguishable"


def t_quantile(df: int, level: float = LEVEL) -> float:
    """Student-t quantile for a two-sided `level` interval (scipy, a scikit-learn dependency)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def seed_interval(values: Sequence[float], level: float = LEVEL,
                  bounds: tuple[float, float] | None = None) -> dict:
    """Mean, sample sd and the t-interval of the mean across training seeds (JSON-ready).

    One value has no spread: sd and interval are None. `bounds` clips the interval to a
    metric's range (accuracy in [0, 1]): with two seeds t is 12.7, and an interval reaching
    1.37 says "unknown" no better than one ending at 1.
    """
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    out: dict = {"values": [float(v) for v in values], "n": int(x.size),
                 "mean": float(x.mean()) if x.size else None, "sd": None, "ci95": None,
                 "method": f"t-interval across {x.size} seeds (mean ± t·sd/√n)"}
    if x.size > 1:
        sd = float(x.std(ddof=1))
        half = t_quantile(x.size - 1, level) * sd / math.sqrt(x.size)
        lo, hi = float(x.mean() - half), float(x.mean() + half)
        if bounds is not None:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        out.update(sd=sd, ci95=[lo, hi])
    return out
