"""Transferability estimators: how well will a backbone transfer, judged before any training.

Fine-tuning every candidate backbone to pick the best one costs a full training run each. These
scores need one forward pass over the labelled data (features are computed once and cached) and
a few seconds of linear algebra, and in the literature they rank backbones close to the order of
their fine-tuned accuracies. Every function returns one float, higher = better.

- `logme`: LogME (You et al., ICML 2021) — the log evidence of a Bayesian linear model from the
  features to each one-hot target, maximised over the prior and noise precisions, per sample.
- `leep`: LEEP (Nguyen et al., ICML 2020) — the log-likelihood of the target labels under the
  "dummy classifier" built from the source head's class probabilities.
- `knn_accuracy`, `linear_probe_accuracy`: stratified, seeded k-fold cross-validated accuracy of
  a k-nearest-neighbour classifier and of a logistic-regression probe on the frozen features.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from threadpoolctl import threadpool_limits

from transferlab.errors import DataError

__all__ = ["Evidence", "logme", "logme_evidence", "leep", "knn_accuracy",
           "linear_probe_accuracy", "ESTIMATORS"]

LOGME_MAX_ITER = 100
LOGME_TOL = 1e-12
RESIDUAL_FLOOR = 1e-12  # relative to ||y||^2
SMALL_PROBLEM = 4_000_000  # N * D below which BLAS runs single-threaded


@contextmanager
def _blas_threads(features: np.ndarray) -> Iterator[None]:
    """One BLAS thread for small problems: the solvers make thousands of tiny BLAS calls, and
    waking a thread pool for each (next to torch's own pool) made them 10-30x slower on a busy
    2-core machine. Large problems (big SVDs) keep every thread."""
    if features.size >= SMALL_PROBLEM:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclass(frozen=True)
class Evidence:
    """The optimum of one target's evidence: log p(y | F, alpha, beta) and where it was reached."""

    log_evidence: float
    alpha: float  # prior precision of the weights
    beta: float  # noise precision
    iterations: int


def _as_2d(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) == 0:
        raise DataError(f"features must be a non-empty (N, D) array, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise DataError("features contain NaN or infinite values; the backbone's output is "
                        "unusable (check the input preprocessing)")
    return f


class _SpectralFeatures:
    """The thin SVD of F, computed once and shared by every target (one per class)."""

    def __init__(self, features: np.ndarray) -> None:
        self.n, self.d = features.shape
        u, s, _ = np.linalg.svd(features, full_matrices=False)
        keep = s > s.max() * max(self.n, self.d) * np.finfo(np.float64).eps
        if not keep.any():
            raise DataError("features are all zero; the backbone's output carries nothing")
        self.u = u[:, keep]
        self.sigma = s[keep] ** 2  # non-zero eigenvalues of F^T F


def _evidence_from_spectrum(spec: _SpectralFeatures, y: np.ndarray) -> Evidence:
    """MacKay's fixed-point updates of alpha/beta, all in the eigenbasis of F^T F.

    With z = U^T y, sigma = eig(F^T F): gamma = sum(beta sigma / (alpha + beta sigma)) is the
    effective number of parameters, m^T m and ||y - F m||^2 have closed forms, and
    alpha <- gamma / m^T m, beta <- (N - gamma) / ||y - F m||^2 until both settle.
    """
    n, d, sigma = spec.n, spec.d, spec.sigma
    z = spec.u.T @ y
    z2 = z * z
    outside = max(float(y @ y - z2.sum()), 0.0)  # part of y no linear model on F can explain
    # With N <= D the data can be fit exactly: the residual goes to 0 and beta would grow
    # without bound (to inf, or 0/0) while the evidence converges. A residual floor far below
    # any real noise keeps beta finite without moving the optimum measurably.
    floor = RESIDUAL_FLOOR * max(float(y @ y), np.finfo(np.float64).tiny)
    alpha, beta, iterations = 1.0, 1.0, 0
    evidence = _log_evidence(n, d, sigma, z2, outside, alpha, beta)
    while iterations < LOGME_MAX_ITER:
        iterations += 1
        m2, res2, gamma = _posterior_terms(sigma, z2, outside, alpha, beta)
        # N - gamma summed from its positive parts: as a difference it rounds to 0 (or below)
        # when gamma nears N, which zeroed beta in exactly the case the floor is for.
        slack = (n - sigma.size) + float((alpha / (alpha + beta * sigma)).sum())
        alpha = gamma / max(m2, np.finfo(np.float64).tiny)
        beta = slack / max(res2, floor)
        previous, evidence = evidence, _log_evidence(n, d, sigma, z2, outside, alpha, beta)
        # stop on the evidence, not on beta (see above)
        if abs(evidence - previous) <= LOGME_TOL * max(1.0, abs(evidence)):
            break
    return Evidence(evidence, alpha, beta, iterations)


def _posterior_terms(sigma: np.ndarray, z2: np.ndarray, outside: float, alpha: float,
                     beta: float) -> tuple[float, float, float]:
    """m^T m, ||y - F m||^2 and gamma; written with beta/denom and alpha/denom (both bounded)
    so a large beta cannot overflow, as beta**2 did on features that fit the labels exactly."""
    denom = alpha + beta * sigma
    shrink_w, shrink_r = beta / denom, alpha / denom
    m2 = float((sigma * z2 * shrink_w**2).sum())
    res2 = float((z2 * shrink_r**2).sum()) + outside
    return m2, res2, float((sigma * shrink_w).sum())


def _log_evidence(n: int, d: int, sigma: np.ndarray, z2: np.ndarray, outside: float,
                  alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta) of y = F w + noise, w ~ N(0, I/alpha), noise ~ N(0, I/beta)."""
    denom = alpha + beta * sigma
    m2, res2, _ = _posterior_terms(sigma, z2, outside, alpha, beta)
    # log|alpha I + beta F^T F|: the D - rank eigenvalues outside F's row space are just alpha
    logdet = float(np.log(denom).sum()) + (d - sigma.size) * math.log(alpha)
    return (d / 2 * math.log(alpha) + n / 2 * math.log(beta) - n / 2 * math.log(2 * math.pi)
            - beta / 2 * res2 - alpha / 2 * m2 - logdet / 2)


def logme_evidence(features: np.ndarray, targets: np.ndarray) -> list[Evidence]:
    """The maximised evidence of each column of `targets` (N, K), sharing one SVD of F."""
    f = _as_2d(features)
    t = np.asarray(targets, dtype=np.float64).reshape(len(f), -1)
    with _blas_threads(f):
        spec = _SpectralFeatures(f)
        return [_evidence_from_spectrum(spec, t[:, k]) for k in range(t.shape[1])]


def _targets(labels: np.ndarray) -> np.ndarray:
    """Class indices → one-hot columns; float targets (regression) stay as one column each."""
    y = np.asarray(labels)
    if np.issubdtype(y.dtype, np.floating):
        return y.reshape(len(y), -1).astype(np.float64)
    classes = np.unique(y)
    return (y[:, None] == classes[None, :]).astype(np.float64)


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME: mean over targets of the maximised log evidence, divided by N (higher = better).

    Integer labels are one-hot encoded, one Bayesian linear model per class; float labels are
    treated as regression targets. Values are comparable across backbones on the same data.
    """
    f = _as_2d(features)
    evidences = logme_evidence(f, _targets(labels))
    return float(np.mean([e.log_evidence for e in evidences]) / len(f))


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP: mean log-likelihood of the labels under the source-to-target "dummy classifier".

    P(y, z) is the empirical joint of target labels and source-class probabilities, P(y | z) its
    conditional; each sample's label is scored by sum_z P(y_i | z) theta_i(z). 0 is perfect.
    """
    theta = np.asarray(source_probs, dtype=np.float64)
    y = np.asarray(labels)
    if theta.ndim != 2 or len(theta) != len(y) or len(y) == 0:
        raise DataError(f"LEEP needs (N, Z) source probabilities and N labels, got "
                        f"{theta.shape} and {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        raise DataError("LEEP is defined for classification labels only")
    classes, y_idx = np.unique(y, return_inverse=True)
    onehot = np.zeros((len(y), len(classes)))
    onehot[np.arange(len(y)), y_idx] = 1.0
    joint = onehot.T @ theta / len(y)  # (K, Z)
    marginal = joint.sum(axis=0, keepdims=True)  # P(z)
    cond = joint / np.maximum(marginal, 1e-300)  # P(y | z); unused source classes give 0
    eep = (theta * cond[y_idx]).sum(axis=1)
    return float(np.mean(np.log(np.maximum(eep, 1e-300))))


def _folds(labels: np.ndarray, folds: int, seed: int) -> StratifiedKFold:
    y = np.asarray(labels)
    if np.issubdtype(y.dtype, np.floating):
        raise DataError("cross-validated accuracy is defined for classification labels only")
    smallest = int(np.unique(y, return_counts=True)[1].min())
    n_splits = min(folds, smallest)
    if n_splits < 2:
        raise DataError(f"cross-validation needs at least 2 images per class; the smallest "
                        f"class has {smallest}")
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = 5, folds: int = 5,
                 seed: int = 0) -> float:
    """Cross-validated k-NN accuracy with cosine distance (L2-normalised features).

    Says whether same-class images already sit together in feature space, with nothing fitted.
    """
    f = _as_2d(features)
    cv = _folds(labels, folds, seed)
    smallest_train = len(f) - math.ceil(len(f) / cv.get_n_splits())
    clf = make_pipeline(Normalizer(), KNeighborsClassifier(n_neighbors=min(k, smallest_train)))
    with _blas_threads(f):
        return float(cross_val_score(clf, f, np.asarray(labels), cv=cv).mean())


def linear_probe_accuracy(features: np.ndarray, labels: np.ndarray, c: float = 0.1,
                          folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of an L2 logistic regression on standardised features.

    The closest cheap proxy for the `linear-probe` strategy itself; slower than LogME.
    """
    f = _as_2d(features)
    cv = _folds(labels, folds, seed)
    clf = make_pipeline(StandardScaler(),
                        LogisticRegression(C=c, max_iter=500, random_state=seed))
    with warnings.catch_warnings(), _blas_threads(f):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return float(cross_val_score(clf, f, np.asarray(labels), cv=cv).mean())


# name → needs; `ranking` dispatches on these names. "source" = needs source-head probabilities.
ESTIMATORS: dict[str, str] = {
    "logme": "features",
    "leep": "source",
    "knn": "features",
    "linear": "features",
}
