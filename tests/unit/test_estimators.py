"""Known-answer tests for the transferability estimators (pure numpy, no models)."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.errors import DataError
from transferlab.selection.estimators import (
    knn_accuracy,
    leep,
    linear_probe_accuracy,
    logme,
    logme_evidence,
)


def direct_log_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log N(y | 0, F F^T / alpha + I / beta): the marginal likelihood, by plain matrix algebra."""
    n = len(y)
    cov = f @ f.T / alpha + np.eye(n) / beta
    sign, logdet = np.linalg.slogdet(cov)
    assert sign > 0
    return float(-0.5 * (n * np.log(2 * np.pi) + logdet + y @ np.linalg.solve(cov, y)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def separable_and_random(rng: np.random.Generator, n_per: int = 30, k: int = 4, d: int = 32):
    labels = np.repeat(np.arange(k), n_per)
    centres = rng.normal(size=(k, d)) * 3.0
    separable = centres[labels] + rng.normal(size=(len(labels), d))
    return separable, rng.normal(size=(len(labels), d)), labels


@pytest.mark.parametrize("n, d", [(40, 6), (25, 60)])  # over- and under-determined
def test_logme_matches_direct_marginal_likelihood(rng, n, d):
    f = rng.normal(size=(n, d))
    y = f @ rng.normal(size=d) + 0.3 * rng.normal(size=n)
    (ev,) = logme_evidence(f, y[:, None])
    assert ev.log_evidence == pytest.approx(direct_log_evidence(f, y, ev.alpha, ev.beta),
                                            abs=1e-6)
    # and alpha/beta really are the maximum: no nearby point has more evidence
    for da, db in [(1.02, 1), (0.98, 1), (1, 1.02), (1, 0.98)]:
        assert direct_log_evidence(f, y, ev.alpha * da, ev.beta * db) <= ev.log_evidence + 1e-9


def test_logme_is_mean_per_class_evidence_over_n(rng):
    f, _, labels = separable_and_random(rng, n_per=10, k=3, d=5)
    onehot = np.eye(3)[labels]
    per_class = [e.log_evidence for e in logme_evidence(f, onehot)]
    assert logme(f, labels) == pytest.approx(np.mean(per_class) / len(f), rel=1e-12)
    for k, ev in enumerate(logme_evidence(f, onehot)):
        assert ev.log_evidence == pytest.approx(
            direct_log_evidence(f, onehot[:, k], ev.alpha, ev.beta), abs=1e-6)


@pytest.mark.parametrize("estimator", [logme, knn_accuracy, linear_probe_accuracy])
def test_separable_features_score_higher_than_random(rng, estimator):
    separable, random, labels = separable_and_random(rng)
    assert estimator(separable, labels) > estimator(random, labels)


def test_cv_accuracies_are_near_perfect_and_near_chance(rng):
    separable, random, labels = separable_and_random(rng)
    assert knn_accuracy(separable, labels) > 0.95
    assert linear_probe_accuracy(separable, labels) > 0.95
    assert knn_accuracy(random, labels) < 0.5  # 4 classes: chance is 0.25


def test_leep_perfect_mapping_beats_uniform():
    labels = np.repeat(np.arange(3), 20)
    # each target class maps onto its own pair of source classes, confidently
    perfect = np.full((len(labels), 6), 0.01)
    perfect[np.arange(len(labels)), 2 * labels] = 0.95
    perfect /= perfect.sum(1, keepdims=True)
    uniform = np.full((len(labels), 6), 1 / 6)
    assert leep(perfect, labels) > leep(uniform, labels)
    assert leep(uniform, labels) == pytest.approx(np.log(1 / 3))  # the label prior, no more
    one_hot = np.eye(6)[2 * labels]
    assert leep(one_hot, labels) == pytest.approx(0.0, abs=1e-12)  # log 1: perfect


def test_leep_matches_a_hand_computed_case():
    theta = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labels = np.array([0, 1, 0])
    joint = np.array([[0.9 + 0.6, 0.1 + 0.4], [0.2, 0.8]]) / 3  # P(y, z)
    cond = joint / joint.sum(0)  # P(y | z)
    expected = np.mean([np.log(theta[i] @ cond[labels[i]]) for i in range(3)])
    assert leep(theta, labels) == pytest.approx(expected, rel=1e-12)


def test_logme_regression_targets(rng):
    f = rng.normal(size=(50, 8))
    good = f @ rng.normal(size=8) + 0.1 * rng.normal(size=50)
    assert logme(f, good) > logme(f, rng.normal(size=50))


def test_bad_inputs_raise_data_errors(rng):
    with pytest.raises(DataError, match="NaN"):
        logme(np.full((4, 3), np.nan), np.array([0, 0, 1, 1]))
    with pytest.raises(DataError, match="all zero"):
        logme(np.zeros((4, 3)), np.array([0, 0, 1, 1]))
    with pytest.raises(DataError, match="at least 2 images per class"):
        knn_accuracy(rng.normal(size=(3, 2)), np.array([0, 0, 1]))
    with pytest.raises(DataError, match="classification"):
        leep(np.full((2, 2), 0.5), np.array([0.5, 1.5]))


def test_logme_survives_features_that_fit_the_labels_exactly(rng):
    """Saturated ReLU6 channels can be exact class indicators (seen on a fine-tuned
    EfficientNet): the residual reaches zero and the noise precision beta runs off to infinity.
    beta**2 overflowed there (OverflowError); the evidence must stay finite and rank first."""
    labels = np.repeat(np.arange(3), 30)
    exact = np.column_stack([6.0 * np.eye(3)[labels], rng.normal(size=(90, 2))])
    noisy = exact + rng.normal(size=exact.shape)
    evidences = logme_evidence(exact, np.eye(3)[labels])
    assert all(np.isfinite(e.log_evidence) and np.isfinite(e.beta) for e in evidences)
    assert np.isfinite(logme(exact, labels))
    assert logme(exact, labels) > logme(noisy, labels)
