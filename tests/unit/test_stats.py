"""results/stats.py and results/paired.py against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from transferlab.results import stats
from transferlab.results.metrics import classification_metrics
from transferlab.results.paired import find_pair, paired_analysis


def test_a_constant_has_an_interval_of_zero_width():
    y = np.full(50, 2)
    ci = stats.metric_intervals(y, y.copy(), num_classes=3)
    assert ci["accuracy"] == [1.0, 1.0] and ci["balanced_accuracy"] == [1.0, 1.0]
    assert ci["macro_f1"][0] == ci["macro_f1"][1]
    assert ci["method"] == "bootstrap over 50 test images, 1000 resamples, percentile"
    reg = stats.metric_intervals(np.arange(9.0), np.arange(9.0) + 0.5, num_classes=None)
    assert reg["rmse"] == pytest.approx([0.5, 0.5]) and reg["mae"] == pytest.approx([0.5, 0.5])


def test_bootstrap_counts_give_the_same_metrics_as_sklearn():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, 300)  # class 4 of 5 never occurs: sklearn's edge cases
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 5, 300))
    k = 5
    tp = np.bincount(y_true[y_true == y_pred], minlength=k)
    acc, bal, f1, _ = stats.counts_metrics(tp, np.bincount(y_true, minlength=k),
                                           np.bincount(y_pred, minlength=k))
    ref = classification_metrics(y_true, y_pred, [str(i) for i in range(k)])
    assert float(acc) == pytest.approx(ref["accuracy"])
    assert float(bal) == pytest.approx(ref["balanced_accuracy"])
    assert float(f1) == pytest.approx(ref["macro_f1"])


def test_intervals_are_reproducible_and_contain_the_estimate():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 400)
    p = np.where(rng.random(400) < 0.8, y, (y + 1) % 3)
    a = stats.metric_intervals(y, p, 3)
    assert a == stats.metric_intervals(y, p, 3)
    acc = float(np.mean(y == p))
    assert a["accuracy"][0] < acc < a["accuracy"][1]
    assert 0.04 < a["accuracy"][1] - a["accuracy"][0] < 0.1  # ~ 2 * 1.96 * sqrt(.16/400)


def test_bootstrap_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    true_p, n, hits = 0.7, 200, 0
    for sim in range(100):
        y = np.zeros(n, dtype=int)
        pred = (rng.random(n) > true_p).astype(int)  # right with probability 0.7
        lo, hi = stats.metric_intervals(y, pred, 2, resamples=400, seed=sim)["accuracy"]
        hits += lo <= true_p <= hi
    assert hits >= 90


def test_mcnemar_exact_on_a_hand_computed_table():
    # b = 8 images only A gets right, c = 2 only B: p = 2 * (C(10,0)+C(10,1)+C(10,2)) / 2^10
    p, method = stats.mcnemar_counts(8, 2)
    assert p == pytest.approx(2 * (1 + 10 + 45) / 1024) == pytest.approx(0.109375)
    assert "exact" in method
    a = np.array([1] * 8 + [0] * 2 + [1] * 5, bool)
    b = np.array([0] * 8 + [1] * 2 + [1] * 5, bool)
    assert stats.mcnemar(a, b)[0] == pytest.approx(0.109375)


def test_mcnemar_chi_square_with_continuity_correction():
    # (|30 - 10| - 1)^2 / 40 = 9.025 on 1 degree of freedom: p = 0.0026631
    p, method = stats.mcnemar_counts(30, 10)
    assert p == pytest.approx(0.0026631192591, rel=1e-9)
    assert "continuity" in method
    assert stats.mcnemar_counts(0, 0)[0] == 1.0
    assert stats.mcnemar_counts(5, 5)[0] == 1.0


def test_identical_predictions_are_indistinguishable_with_p_1():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 120)
    p = np.where(rng.random(120) < 0.7, y, (y + 1) % 3)
    out = paired_analysis(["a", "scratch"], y, [p, p.copy()], ["x", "y", "z"], "scratch")
    (pair,) = out["pairs"]
    assert pair["gain"] == 0.0 and pair["ci95"] == [0.0, 0.0] and pair["p_value"] == 1.0
    assert pair["verdict"] == "indistinguishable"
    assert all(r["ci95"] == [0.0, 0.0] for r in out["per_class_gain"]["classes"])


def test_paired_analysis_finds_a_clear_gain_and_a_class_that_lost():
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(3), 200)
    scratch = np.where(rng.random(600) < 0.5, y, (y + 1) % 3)
    good = np.where(rng.random(600) < 0.95, y, (y + 1) % 3)
    good[y == 2] = np.where(rng.random(200) < 0.1, 2, 0)  # transfer ruins class 2
    out = paired_analysis(["ft", "lp", "scratch"], y, [good, scratch, scratch],
                          ["a", "b", "c"], "scratch")
    ft = find_pair(out["pairs"], "ft", "scratch")
    assert ft["gain"] == pytest.approx(np.mean(good == y) - np.mean(scratch == y))
    assert ft["ci95"][0] < ft["gain"] < ft["ci95"][1]
    assert [p["a"] + "/" + p["b"] for p in out["pairs"]] == ["ft/scratch", "lp/scratch", "ft/lp"]
    assert find_pair(out["pairs"], "lp", "scratch")["p_value"] == 1.0
    flipped = find_pair(out["pairs"], "lp", "ft")
    assert flipped["gain"] == pytest.approx(-find_pair(out["pairs"], "ft", "lp")["gain"])
    per_class = out["per_class_gain"]
    assert per_class["strategy"] == "ft" and per_class["negative"] == ["c"]
    assert per_class["classes"][0]["verdict"] == "better"


def test_regression_pairs_use_rmse_and_a_bootstrap_p():
    rng = np.random.default_rng(6)
    y = rng.normal(size=300)
    good, bad = y + rng.normal(0, 0.1, 300), y + rng.normal(0, 1.0, 300)
    out = paired_analysis(["ft", "scratch"], y, [good, bad], None, "scratch")
    (pair,) = out["pairs"]
    assert pair["gain"] > 0.5 and pair["verdict"] == "better" and pair["p_value"] < 0.01
    assert pair["test"] == "paired bootstrap" and out["per_class_gain"] is None


def test_t_interval_of_known_numbers():
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776445: half-width 2.776445 * 1.581139 / sqrt(5)
    out = stats.seed_interval([1, 2, 3, 4, 5])
    half = 2.7764451051977934 * math.sqrt(2.5) / math.sqrt(5)
    assert out["mean"] == 3.0 and out["sd"] == pytest.approx(math.sqrt(2.5))
    assert out["ci95"] == pytest.approx([3 - half, 3 + half])
    one = stats.seed_interval([0.8])
    assert one["mean"] == 0.8 and one["sd"] is None and one["ci95"] is None


def test_seed_interval_is_clipped_to_the_metric_range():
    wide = stats.seed_interval([0.6, 0.95])  # two seeds: t = 12.7, the interval leaves [0, 1]
    assert wide["ci95"][0] < 0 and wide["ci95"][1] > 1
    clipped = stats.seed_interval([0.6, 0.95], bounds=(0.0, 1.0))
    assert clipped["ci95"] == [0.0, 1.0] and clipped["mean"] == wide["mean"]
