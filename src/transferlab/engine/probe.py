"""Linear probe: multinomial logistic regression on frozen features, written into the head.

Features are standardised for a well-conditioned fit; the scaling is folded back into the head's
weights so the model keeps taking raw features. With a validation set, the L2 strength is chosen
on it from a small grid (by balanced accuracy when classes are weighted, see `--balance`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score

C_GRID = (0.01, 0.1, 1.0)


def _fit(x: np.ndarray, y: np.ndarray, c: float, regression: bool, seed: int,
         class_weight: dict[int, float] | None = None):
    if regression:
        return Ridge(alpha=1.0 / c).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=1000, random_state=seed,
                                  class_weight=class_weight).fit(x, y)


def sklearn_class_weight(y: np.ndarray, weights: list[float] | None) -> dict[int, float] | None:
    """Per-class weights as sklearn's `class_weight`, rescaled so image weights sum to n.

    Only their ratios are ours; the scale is sklearn's "balanced" one, where the weighted data
    term has the size of the unweighted one, so C (and its grid) keeps its meaning.
    """
    if weights is None:
        return None
    present = np.unique(y)
    w = np.asarray(weights, dtype=np.float64)
    scale = len(y) / float(w[y].sum())
    return {int(c): float(w[c] * scale) for c in present}


def fit_linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, num_outputs: int,
                     val_x: torch.Tensor | None = None, val_y: torch.Tensor | None = None,
                     seed: int = 0, class_weight: list[float] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(weight (K, D), bias (K,), info) of the best probe; K = classes, or 1 for regression.

    `class_weight` (per class index, classification only) weights each image's loss by its
    class, as `--balance` does for trained heads.
    """
    regression = train_y.is_floating_point()
    x = train_x.double().numpy()
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xs = (x - mu) / sd
    y = train_y.numpy()
    cw = None if regression else sklearn_class_weight(y, class_weight)
    scores: dict[float, float] = {}
    best_c = 0.1
    if val_x is not None and val_y is not None and len(val_y):
        vx = (val_x.double().numpy() - mu) / sd
        for c in C_GRID:
            scores[c] = _score(_fit(xs, y, c, regression, seed, cw), vx, val_y.numpy(), cw)
        best_c = max(scores, key=scores.get)
    clf = _fit(xs, y, best_c, regression, seed, cw)
    w, b = _as_full_matrix(clf, num_outputs, regression)
    weight = w / sd  # fold standardisation: w·(x-mu)/sd + b = (w/sd)·x + (b - w·mu/sd)
    bias = b - weight @ mu
    info = {"C": best_c, "val_scores": {str(k): v for k, v in scores.items()}}
    if cw is not None:
        info["class_weight"] = {str(k): round(v, 6) for k, v in cw.items()}
    return torch.from_numpy(weight).float(), torch.from_numpy(bias).float(), info


def _score(clf, x: np.ndarray, y: np.ndarray, class_weight: dict | None) -> float:
    """R² or accuracy; balanced accuracy when classes are weighted (as best-epoch selection)."""
    if class_weight is None:
        return float(clf.score(x, y))
    with warnings.catch_warnings():  # a class absent from a small validation set
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y, clf.predict(x)))


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
