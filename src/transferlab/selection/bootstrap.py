"""Resampling intervals of transferability scores: can this data tell two candidates apart?

A score is computed from one sample of labelled images; another sample would give another
score. Recomputing it on many random halves of the images shows how far it moves, and two
candidates whose intervals overlap cannot be told apart by this data (overlap is a
conservative criterion: overlapping intervals may still differ).

Why halves and not the classic bootstrap (rows drawn with replacement): LogME fits a Bayesian
linear model, and a row drawn twice is fitted perfectly by its twin. With 200 images of 1280
features, LogME -0.46 gave bootstrap scores between +4.1 and +4.8: the resamples measure the
duplicates, not the data. Halves drawn without replacement (per class, so the class balance
stays) have no duplicates. Their scores sit off the full-data score (LogME per image depends
on the number of images), so only their spread is used: for a mean, the standard deviation
of half-sample estimates is exactly the full sample's standard error (the delete-N/2
jackknife), and the interval is the full-data score +- z(level) times it. A normal interval,
not percentiles: 20 halves estimate a spread to about 16%, but not a 5th or 95th percentile,
and each half of a 1,000-image set costs one 500 x 500 eigendecomposition (measured in
docs/RANKING.md against the feature extraction).

Only scores with no fitting of their own are resampled: LogME and LEEP. The cross-validated
k-NN and linear-probe accuracies are not: each round would cost a whole cross-validation.

LogME on a half costs one eigendecomposition of the half's Gram matrix (N/2 <= D) or of the
D x D covariance, never a new SVD of the N/2 x D matrix (tested equal to `logme(F[rows], y)`).
Every candidate uses the same seed, so all of them see the same halves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from transferlab.errors import DataError
from transferlab.selection import estimators as est

DEFAULT_ROUNDS = 20
DEFAULT_LEVEL = 0.9
BOOTSTRAPPABLE = ("logme", "leep")


@dataclass(frozen=True)
class Interval:
    """Where the score could lie at `level`, from `rounds` random halves, and what it cost."""

    low: float
    high: float
    std_error: float  # the halves' standard deviation: the full-data score's standard error
    rounds: int
    level: float
    seconds: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def half_samples(labels: np.ndarray, rounds: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of `rounds` random halves, drawn per class for class labels (each class
    keeps half its rows, at least one) and over all rows for regression targets."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    groups = ([np.flatnonzero(y == c) for c in np.unique(y)]
              if not np.issubdtype(y.dtype, np.floating) else [np.arange(len(y))])
    for _ in range(rounds):
        yield np.sort(np.concatenate([rng.choice(g, max(1, len(g) // 2), replace=False)
                                      for g in groups]))


@dataclass
class _Spectrum:
    """Duck-types estimators._SpectralFeatures: U of the rows used and eig(F^T F)."""

    n: int
    d: int
    u: np.ndarray
    sigma: np.ndarray


def _spectrum(f: np.ndarray, gram: np.ndarray | None, rows: np.ndarray) -> _Spectrum:
    """Spectrum of F[rows] from the cheaper of its two Gram forms."""
    if gram is not None:  # rows <= D: the eigenvectors of the Gram matrix are U itself
        lam, u = np.linalg.eigh(gram[np.ix_(rows, rows)])
    else:  # rows > D: eig of the D x D covariance, U = F V / sqrt(lambda)
        sub = f[rows]
        lam, v = np.linalg.eigh(sub.T @ sub)
    keep = lam > max(lam.max(), 0.0) * max(len(rows), f.shape[1]) * np.finfo(np.float64).eps
    if not keep.any():
        raise DataError("features are all zero; the backbone's output carries nothing")
    lam = lam[keep]
    u = u[:, keep] if gram is not None else (sub @ v[:, keep]) / np.sqrt(lam)
    return _Spectrum(n=len(rows), d=f.shape[1], u=u, sigma=lam)


def logme_subsets(features: np.ndarray, labels: np.ndarray,
                  subsets: Iterator[np.ndarray]) -> list[float]:
    """LogME of each subset of rows, equal to logme(F[rows], y[rows]), sharing one Gram
    matrix, with the fixed point of every subset and class solved in one batch."""
    f = est._as_2d(features)
    y = np.asarray(labels)
    spectra, owner = [], []
    with est._blas_threads(f):
        gram = None
        for i, rows in enumerate(subsets):
            if gram is None and len(rows) <= f.shape[1]:
                gram = f @ f.T
            spec = _spectrum(f, gram if len(rows) <= f.shape[1] else None, rows)
            targets = est._targets(y[rows])
            spectra.append((spec, spec.u.T @ targets, (targets * targets).sum(axis=0)))
            owner += [i] * targets.shape[1]
    r = max(spec.sigma.size for spec, _, _ in spectra)
    cols = len(owner)
    sigma, z2 = np.zeros((r, cols)), np.zeros((r, cols))
    n, yy = np.zeros(cols), np.concatenate([t for _, _, t in spectra])
    col = 0
    for spec, z, _ in spectra:  # zero padding is exact: see _evidences
        k = z.shape[1]
        sigma[: spec.sigma.size, col:col + k] = spec.sigma[:, None]
        z2[: spec.sigma.size, col:col + k] = z * z
        n[col:col + k] = spec.n
        col += k
    per_image = _evidences(n, f.shape[1], sigma, z2, yy) / n
    owner_ix = np.asarray(owner)
    return [float(per_image[owner_ix == i].mean()) for i in range(len(spectra))]


def _evidences(n: np.ndarray, d: int, sigma: np.ndarray, z2: np.ndarray,
               yy: np.ndarray) -> np.ndarray:
    """estimators._evidence_from_spectrum for many targets at once (columns; same updates,
    same per-column stop). The N < D fixed point often runs all 100 iterations, and a Python
    loop over subsets and classes cost 10x the linear algebra. Columns whose spectrum has
    fewer than r eigenvalues are padded with sigma = 0, z = 0: a padded entry adds 1 to the
    sum of alpha/(alpha + beta sigma) and log(alpha) to the log-determinant, exactly what the
    (n - r) and (d - r) terms then lack, so every formula stays exact."""
    r = sigma.shape[0]
    tiny = np.finfo(np.float64).tiny
    outside = np.maximum(yy - z2.sum(axis=0), 0.0)
    floor = est.RESIDUAL_FLOOR * np.maximum(yy, tiny)
    alpha, beta = np.ones_like(yy), np.ones_like(yy)

    def terms(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        denom = a + b * sigma
        shrink_w, shrink_r = b / denom, a / denom
        m2 = (sigma * z2 * shrink_w**2).sum(axis=0)
        res2 = (z2 * shrink_r**2).sum(axis=0) + outside
        return denom, m2, res2, (sigma * shrink_w).sum(axis=0), shrink_r

    def log_evidence(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        denom, m2, res2, _, _ = terms(a, b)
        logdet = np.log(denom).sum(axis=0) + (d - r) * np.log(a)
        return (d / 2 * np.log(a) + n / 2 * np.log(b) - n / 2 * np.log(2 * np.pi)
                - b / 2 * res2 - a / 2 * m2 - logdet / 2)

    evidence = log_evidence(alpha, beta)
    active = np.ones(len(yy), dtype=bool)
    for _ in range(est.LOGME_MAX_ITER):
        _, m2, res2, gamma, shrink_r = terms(alpha, beta)
        slack = (n - r) + shrink_r.sum(axis=0)
        alpha = np.where(active, gamma / np.maximum(m2, tiny), alpha)
        beta = np.where(active, slack / np.maximum(res2, floor), beta)
        previous, evidence = evidence, np.where(active, log_evidence(alpha, beta), evidence)
        active &= np.abs(evidence - previous) > est.LOGME_TOL * np.maximum(1.0, np.abs(evidence))
        if not active.any():
            break
    return evidence


def leep_subsets(probs: np.ndarray, labels: np.ndarray,
                 subsets: Iterator[np.ndarray]) -> list[float]:
    """LEEP of each subset of rows (cheap: one N x Z product each)."""
    y = np.asarray(labels)
    return [est.leep(probs[rows], y[rows]) for rows in subsets]


def half_sample_interval(score: Callable[[Iterator[np.ndarray]], list[float]], point: float,
                         labels: np.ndarray, rounds: int = DEFAULT_ROUNDS,
                         level: float = DEFAULT_LEVEL, seed: int = 0) -> Interval:
    """`point` +- z(level) x the standard deviation of the score over `rounds` random halves.

    `score` maps an iterator of row-index arrays to one score per array."""
    if rounds < 2 or not 0.0 < level < 1.0:
        raise ValueError(f"intervals need >= 2 rounds and 0 < level < 1, got {rounds}, {level}")
    t0 = time.perf_counter()
    draws = np.asarray(score(half_samples(labels, rounds, seed)))
    se = float(draws.std(ddof=1))
    half = NormalDist().inv_cdf((1 + level) / 2) * se
    return Interval(point - half, point + half, se, rounds, level, time.perf_counter() - t0)


def score_interval(name: str, point: float, features: np.ndarray, labels: np.ndarray,
                   probs: np.ndarray | None = None, rounds: int = DEFAULT_ROUNDS,
                   level: float = DEFAULT_LEVEL, seed: int = 0) -> Interval | None:
    """The interval of one estimator's score, or None for estimators that are not resampled
    (see the module docstring) and for LEEP without source probabilities."""
    if name == "logme":
        return half_sample_interval(lambda s: logme_subsets(features, labels, s), point,
                                    labels, rounds, level, seed)
    if name == "leep" and probs is not None:
        return half_sample_interval(lambda s: leep_subsets(probs, labels, s), point, labels,
                                    rounds, level, seed)
    return None


def tied_with(intervals: dict[str, Interval | None], top: str) -> list[str]:
    """Candidates whose interval overlaps `top`'s (top excluded); [] when top has none."""
    ref = intervals.get(top)
    if ref is None:
        return []
    return [name for name, iv in intervals.items()
            if name != top and iv is not None and iv.overlaps(ref)]
