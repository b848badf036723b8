"""Linear probe: multinomial logistic regression on frozen features, written into the head.

Features are standardised for a well-conditioned fit; the scaling is folded back into the head's
weights so the model keeps taking raw features. With a validation set, the L2 strength is chosen
on it from a small grid.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

C_GRID = (0.01, 0.1, 1.0)


def _fit(x: np.ndarray, y: np.ndarray, c: float, regression: bool, seed: int):
    if regression:
        return Ridge(alpha=1.0 / c).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(x, y)


def fit_linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, num_outputs: int,
                     val_x: torch.Tensor | None = None, val_y: torch.Tensor | None = None,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(weight (K, D), bias (K,), info) of the best probe; K = classes, or 1 for regression."""
    regression = train_y.is_floating_point()
    x = train_x.double().numpy()
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xs = (x - mu) / sd
    y = train_y.numpy()
    scores: dict[float, float] = {}
    best_c = 0.1
    if val_x is not None and val_y is not None and len(val_y):
        vx = (val_x.double().numpy() - mu) / sd
        for c in C_GRID:
            scores[c] = float(_fit(xs, y, c, regression, seed).score(vx, val_y.numpy()))
        best_c = max(scores, key=scores.get)
    clf = _fit(xs, y, best_c, regression, seed)
    w, b = _as_full_matrix(clf, num_outputs, regression)
    weight = w / sd  # fold standardisation: w·(x-mu)/sd + b = (w/sd)·x + (b - w·mu/sd)
    bias = b - weight @ mu
    info = {"C": best_c, "val_scores": {str(k): v for k, v in scores.items()}}
    return torch.from_numpy(weight).float(), torch.from_numpy(bias).float(), info


def _as_full_matrix(clf, k: int, regression: bool) -> tuple[np.ndarray, np.ndarray]:
    if regression:
        return np.atleast_2d(clf.coef_), np.atleast_1d(clf.intercept_)
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # binary: sklearn keeps one row; logits (0, z) give the same softmax
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    w = np.zeros((k, coef.shape[1]))
    b = np.full(k, -1e4)  # classes absent from training data get a very low logit
    w[clf.classes_] = coef
    b[clf.classes_] = intercept
    return w, b
