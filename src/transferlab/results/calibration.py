"""Calibration of a classifier's confidence: ECE, NLL, reliability bins, temperature scaling.

numpy only (scipy for the 1-D search), so reports and the torch-free serving side can use it.
A model is calibrated when, of the images it labels with confidence ~0.8, about 80% are right.
Temperature scaling (Guo et al. 2017) divides the logits by one scalar T > 0 fitted to minimise
the NLL on held-out images: one parameter cannot overfit much, and dividing by a positive
number never changes the argmax, so accuracy is untouched.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import chi2

ECE_BINS = 15
T_BOUNDS = (0.05, 20.0)  # a fitted T outside this says the held-out set is unusable, not T
# sd of the prior on log T: T within [0.55, 1.8] at two sd; see fit_temperature
PRIOR_SD = 0.3
# a fitted T is applied only when it beats T = 1 at this level (likelihood-ratio test); see
# fit_temperature
EVIDENCE_ALPHA = 0.05


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels under softmax(logits / T)."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    labels = np.asarray(labels, dtype=np.int64)
    return float(-logp[np.arange(len(labels)), labels].mean())


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width confidence bin (lo, hi]: count, mean confidence and accuracy.

    Confidence is the top class's probability; an empty bin has None for both means, so a
    plot can leave it out and the JSON keeps all bins at fixed positions.
    """
    conf = probs.max(axis=-1)
    correct = probs.argmax(axis=-1) == np.asarray(labels)
    # bin i holds (i/n, (i+1)/n]; a confidence of exactly 0 cannot happen with softmax
    index = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    bins = []
    for i in range(n_bins):
        hit = index == i
        n = int(hit.sum())
        bins.append({"lo": i / n_bins, "hi": (i + 1) / n_bins, "count": n,
                     "confidence": float(conf[hit].mean()) if n else None,
                     "accuracy": float(correct[hit].mean()) if n else None})
    return bins


def ece_from_bins(bins: list[dict]) -> float:
    """Expected calibration error: the count-weighted mean |accuracy - confidence| gap."""
    total = sum(b["count"] for b in bins)
    if total == 0:
        return float("nan")
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"])
                     for b in bins if b["count"]) / total)


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> float:
    return ece_from_bins(reliability_bins(probs, labels, n_bins))


def fit_temperature(logits: np.ndarray, labels: np.ndarray,
                    prior_sd: float | None = PRIOR_SD,
                    alpha: float | None = EVIDENCE_ALPHA) -> float:
    """T > 0 minimising the summed NLL of softmax(logits / T) plus a prior; deterministic.

    The NLL is convex in 1/T, hence unimodal in log T, so a bounded scalar search on log T
    finds the optimum. The prior, log T ~ N(0, prior_sd²), is a MAP estimate's: a held-out set
    of a hundred images (a small run's validation split, which also chose the best epoch and so
    flatters the model) pulls a maximum-likelihood T far from 1 by chance, and a T that
    sharpens by chance makes the model overconfident on new images. Thousands of images
    outweigh the prior; `prior_sd=None` is plain maximum likelihood. When every held-out
    prediction is right the NLL keeps falling as T -> 0 (the set cannot show overconfidence),
    so T is then not allowed below 1.

    Even shrunk, a T fitted on a hundred images is often noise: on a model already close to
    calibrated it moves test ECE up about as often as down (bench/calibration_bench.py; a T
    needs about a thousand unbiased images before it lowers ECE reliably,
    bench/calibration_heldout_size.py). So the fitted T is kept only when a likelihood-ratio
    test rejects T = 1 at `alpha` (`temperature_p_value`); otherwise the logits stay as they
    are.
    `alpha=None` keeps any fitted T.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0
    n = len(labels)
    weight = 0.0 if prior_sd is None else 0.5 / prior_sd**2

    def objective(u: float) -> float:
        return n * nll(logits, labels, math.exp(u)) + weight * u * u

    lo = 1.0 if bool((logits.argmax(-1) == labels).all()) else T_BOUNDS[0]
    res = minimize_scalar(objective, method="bounded",
                          bounds=(math.log(lo), math.log(T_BOUNDS[1])), options={"xatol": 1e-5})
    # the bounded search never evaluates the ends exactly: prefer T = 1 (no change) when it is
    # as good, so a calibrated model keeps exactly its logits
    if objective(0.0) <= objective(float(res.x)):
        return 1.0
    t = float(math.exp(res.x))
    if alpha is None:
        return t
    return supported_temperature(t, temperature_p_value(logits, labels, t), alpha)


def supported_temperature(fitted: float, p_value: float,
                          alpha: float = EVIDENCE_ALPHA) -> float:
    """The evidence gate, in one place: the fitted T when the likelihood-ratio test rejects
    T = 1 at `alpha`, else 1 (the logits stay as they are)."""
    return fitted if p_value <= alpha else 1.0


def temperature_p_value(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """p-value of the likelihood-ratio test of T = 1 against `temperature` on these images.

    Twice the summed log-likelihood gain of dividing by T is chi-squared with one degree of
    freedom under T = 1 (Wilks); T was fitted on the same images, which is what the test
    assumes.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0 or temperature == 1.0:
        return 1.0
    gain = len(labels) * (nll(logits, labels, 1.0) - nll(logits, labels, temperature))
    return float(chi2.sf(max(2.0 * gain, 0.0), df=1))


def summary(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """ECE, NLL and reliability bins of raw logits before and after dividing them by T."""
    out = {}
    for name, t in (("before", 1.0), ("after", temperature)):
        probs = softmax(np.asarray(logits, dtype=np.float64) / t)
        bins = reliability_bins(probs, labels)
        out[name] = {"ece": ece_from_bins(bins), "nll": nll(logits, labels, t), "bins": bins}
    return out


def describe(calibration: dict) -> str:
    """`ECE 0.081 → 0.023 (T=1.62)`: the terminal line of fit and evaluate."""
    before, after = calibration["before"]["ece"], calibration["after"]["ece"]
    return f"ECE {before:.3f} → {after:.3f} (T={calibration['temperature']:.2f})"
