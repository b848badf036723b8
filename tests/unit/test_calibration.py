"""Calibration statistics against known answers (results/calibration.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from transferlab.results import calibration as cal


def _sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per row drawn from that row's probabilities."""
    u = rng.random((len(probs), 1))
    return (probs.cumsum(axis=1) < u).sum(axis=1).clip(0, probs.shape[1] - 1)


def _true_logits(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, 2.0, (n, k))


def test_perfectly_calibrated_model_has_ece_near_zero():
    rng = np.random.default_rng(0)
    probs = cal.softmax(_true_logits(200_000, 5, rng))
    labels = _sample(probs, rng)
    assert cal.ece(probs, labels) < 0.005


def test_overconfident_model_has_large_ece():
    rng = np.random.default_rng(1)
    logits = _true_logits(50_000, 5, rng)
    labels = _sample(cal.softmax(logits), rng)
    overconfident = cal.softmax(logits * 4)
    assert cal.ece(overconfident, labels) > 0.1


def test_temperature_recovers_a_known_scale():
    rng = np.random.default_rng(2)
    logits = _true_logits(20_000, 10, rng)
    labels = _sample(cal.softmax(logits), rng)
    t = cal.fit_temperature(logits * 3, labels)
    assert t == pytest.approx(3.0, rel=0.05)
    before = cal.summary(logits * 3, labels, t)
    assert before["after"]["ece"] < 0.02 < before["before"]["ece"]
    assert before["after"]["nll"] < before["before"]["nll"]


def test_calibrated_logits_keep_temperature_one():
    rng = np.random.default_rng(3)
    logits = _true_logits(20_000, 4, rng)
    labels = _sample(cal.softmax(logits), rng)
    assert cal.fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.05)


def test_nll_by_hand_on_two_samples():
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])  # p = (1/2, 1/2) and (3/4, 1/4)
    labels = np.array([1, 0])
    assert cal.nll(logits, labels) == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)
    # T = 2 halves the logits: p(row 2, class 0) = sqrt3 / (sqrt3 + 1)
    s3 = math.sqrt(3.0)
    assert cal.nll(logits, labels, 2.0) == pytest.approx(
        -(math.log(0.5) + math.log(s3 / (s3 + 1))) / 2)


def test_temperature_leaves_argmax_unchanged():
    rng = np.random.default_rng(4)
    logits = _true_logits(1000, 7, rng)
    for t in (0.3, 1.0, 2.5, 17.0):
        assert (cal.softmax(logits / t).argmax(-1) == logits.argmax(-1)).all()


def test_reliability_bins_by_hand():
    probs = np.array([[0.95, 0.05], [0.9, 0.1], [0.55, 0.45], [0.4, 0.6]])
    labels = np.array([0, 1, 0, 1])
    bins = cal.reliability_bins(probs, labels)
    assert len(bins) == cal.ECE_BINS and sum(b["count"] for b in bins) == 4
    top = bins[14]  # (14/15, 1]: only 0.95
    assert top["count"] == 1 and top["accuracy"] == 1.0 and top["confidence"] == 0.95
    assert bins[13]["count"] == 1 and bins[13]["accuracy"] == 0.0  # 0.9 in (13/15, 14/15]
    assert bins[0]["confidence"] is None
    # |1-.95| + |0-.9| + |1-.55| + |1-.6|, each weighted 1/4
    assert cal.ece(probs, labels) == pytest.approx((0.05 + 0.9 + 0.45 + 0.4) / 4)


def test_no_held_out_error_never_sharpens():
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    assert cal.fit_temperature(logits, np.array([0, 1, 0])) >= 1.0
    assert cal.fit_temperature(np.zeros((0, 2)), np.zeros(0, dtype=int)) == 1.0


def test_describe_line():
    out = {"temperature": 1.62, "before": {"ece": 0.0812}, "after": {"ece": 0.0231}}
    assert cal.describe(out) == "ECE 0.081 → 0.023 (T=1.62)"


def test_prior_pulls_a_small_sets_temperature_toward_one():
    rng = np.random.default_rng(5)
    logits = _true_logits(100, 10, rng)
    labels = _sample(cal.softmax(logits), rng)
    mle = cal.fit_temperature(logits * 3, labels, prior_sd=None, alpha=None)
    map_t = cal.fit_temperature(logits * 3, labels, alpha=None)
    assert 1.0 < map_t < mle  # shrunk toward 1, still the same side
    # the prior's weight is fixed, so thousands of images outweigh it
    big = _true_logits(20_000, 10, rng)
    big_labels = _sample(cal.softmax(big), rng)
    assert cal.fit_temperature(big * 3, big_labels) == pytest.approx(
        cal.fit_temperature(big * 3, big_labels, prior_sd=None), rel=0.01)


def test_temperature_without_evidence_against_one_is_not_applied():
    rng = np.random.default_rng(6)
    logits = _true_logits(100, 10, rng)
    labels = _sample(cal.softmax(logits), rng)  # calibrated at T = 1: any fitted T is noise
    noise = cal.fit_temperature(logits, labels, alpha=None)
    assert noise != 1.0
    assert cal.temperature_p_value(logits, labels, noise) > cal.EVIDENCE_ALPHA
    assert cal.fit_temperature(logits, labels) == 1.0
    # 100 images three times too confident: overwhelming evidence, T is applied
    sharp = cal.fit_temperature(logits * 3, labels)
    assert sharp > 1.5
    assert cal.temperature_p_value(logits * 3, labels, sharp) < 1e-6


def test_p_value_by_hand():
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])
    labels = np.array([1, 0])
    gain = 2 * (cal.nll(logits, labels) - cal.nll(logits, labels, 2.0))
    from scipy.stats import chi2
    assert cal.temperature_p_value(logits, labels, 2.0) == pytest.approx(
        chi2.sf(2 * gain, df=1))
    assert cal.temperature_p_value(logits, labels, 1.0) == 1.0
