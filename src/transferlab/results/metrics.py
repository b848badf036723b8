"""Classification and regression metrics, JSON-ready, and the one rule for which of them a run is
judged by (`primary_metric`): compare, the report and best-epoch selection all use it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from sklearn import metrics as skm


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                           classes: list[str]) -> dict:
    """Accuracy, balanced accuracy, macro P/R/F1, per-class rows and the confusion matrix
    (rows = true class, columns = predicted) over every class, including ones absent from
    `y_true`, so runs on different splits have the same shape. One class present: balanced
    accuracy is plain accuracy (sklearn would warn and average over the one class anyway)."""
    labels = list(range(len(classes)))
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred))
        if len(np.unique(y_true)) > 1 else float(skm.accuracy_score(y_true, y_pred)),
        "macro_precision": float(np.mean(p)),
        "macro_recall": float(np.mean(r)),
        "macro_f1": float(np.mean(f)),
        "per_class": [
            {"class": c, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
             "support": int(s[i])}
            for i, c in enumerate(classes)
        ],
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": int(len(y_true)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE and R² (NaN for a single sample, where it is undefined)."""
    return {
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "r2": float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
        "n": int(len(y_true)),
    }


class PrimaryMetric(NamedTuple):
    """The one number a run is judged by: its name, its value (None when the run has none) and
    which direction is better."""

    name: str
    value: float | None
    higher_is_better: bool

    @property
    def score(self) -> float:
        """Higher is better for every task (minus RMSE for regression); a missing or NaN value
        is -inf, so a run whose metric is missing ranks last instead of looking perfect."""
        if self.value is None or math.isnan(self.value):
            return -math.inf
        return self.value if self.higher_is_better else -self.value


def primary_metric(metrics_or_row: Mapping[str, Any]) -> PrimaryMetric:
    """Accuracy for classification, RMSE (lower is better) for regression.

    Takes test/validation metrics or a comparison row (where both keys exist and the one the
    task lacks is None). A row without an accuracy value is treated as regression, as the
    comparison table has always done; its RMSE may still be missing (a broken run).
    """
    accuracy = metrics_or_row.get("accuracy")
    if accuracy is not None:
        return PrimaryMetric("accuracy", float(accuracy), True)
    rmse = metrics_or_row.get("rmse")
    return PrimaryMetric("rmse", None if rmse is None else float(rmse), False)


def rank_score(metrics_or_row: Mapping[str, Any]) -> float:
    """`primary_metric(...).score`: the key to sort or select runs by (higher is better)."""
    return primary_metric(metrics_or_row).score
