"""results/metrics.py against answers worked out by hand, and the one primary-metric rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from transferlab.results.metrics import (
    classification_metrics,
    primary_metric,
    rank_score,
    regression_metrics,
)

# 3 classes, 6 samples. Confusion (rows true, cols predicted):
#   a: [2, 1, 0]   b: [0, 1, 0]   c: [1, 0, 1]
Y_TRUE = np.array([0, 0, 0, 1, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 0])


def test_classification_metrics_match_hand_computed_values():
    m = classification_metrics(Y_TRUE, Y_PRED, ["a", "b", "c"])
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    # recall per class: a 2/3, b 1/1, c 1/2 -> balanced accuracy is their mean
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    # precision per class: a 2/3 (col a: 2 right of 3), b 1/2, c 1/1
    assert m["macro_precision"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    f1 = [2 * p * r / (p + r) for p, r in ((2 / 3, 2 / 3), (1 / 2, 1), (1, 1 / 2))]
    assert m["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert [row["support"] for row in m["per_class"]] == [3, 1, 2]
    assert m["per_class"][1] == {"class": "b", "precision": pytest.approx(0.5), "recall": 1.0,
                                 "f1": pytest.approx(2 / 3), "support": 1}
    assert m["n"] == 6


def test_absent_class_keeps_its_row_and_scores_zero():
    m = classification_metrics(np.array([0, 0, 1]), np.array([0, 1, 1]), ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert m["per_class"][2] == {"class": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0,
                                 "support": 0}
    assert m["macro_recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)


def test_single_class_balanced_accuracy_is_accuracy():
    m = classification_metrics(np.array([1, 1, 1, 1]), np.array([1, 0, 1, 1]), ["a", "b"])
    assert m["balanced_accuracy"] == m["accuracy"] == pytest.approx(0.75)


def test_regression_metrics_match_hand_computed_values():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.0, 5.0])  # errors 0.5, 0, -1, 1
    m = regression_metrics(y, p)
    assert m["mae"] == pytest.approx((0.5 + 0 + 1 + 1) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((0.25 + 0 + 1 + 1) / 4))
    # R^2 = 1 - SSE / SST = 1 - 2.25 / 5 (mean 2.5: 2.25 + 0.25 + 0.25 + 2.25)
    assert m["r2"] == pytest.approx(1 - 2.25 / 5)
    assert m["n"] == 4
    assert math.isnan(regression_metrics(np.array([1.0]), np.array([2.0]))["r2"])


def test_primary_metric_names_direction_and_value():
    assert primary_metric({"accuracy": 0.8, "rmse": None}) == ("accuracy", 0.8, True)
    assert primary_metric({"accuracy": None, "rmse": 0.3}) == ("rmse", 0.3, False)
    assert primary_metric({"mae": 0.2, "rmse": 0.3, "r2": 0.5}) == ("rmse", 0.3, False)
    assert rank_score({"accuracy": 0.8}) == 0.8
    assert rank_score({"rmse": 0.3}) == -0.3


@pytest.mark.parametrize("broken", [{"accuracy": None, "rmse": None}, {},
                                    {"rmse": float("nan")}, {"accuracy": float("nan")}])
def test_missing_metric_ranks_last(broken):
    """A regression row whose RMSE is missing once scored 0 and so ranked best of all."""
    rows = [{"strategy": "good", "rmse": 0.4}, {"strategy": "broken", **broken},
            {"strategy": "worse", "rmse": 9.0}]
    assert primary_metric(rows[1]).score == -math.inf
    assert [r["strategy"] for r in sorted(rows, key=rank_score, reverse=True)] == [
        "good", "worse", "broken"]
    assert max(rows, key=rank_score)["strategy"] == "good"


def test_comparison_gain_of_a_row_without_metric_is_none():
    from transferlab.api.compare import build_report

    class Result:
        def __init__(self, strategy: str, rmse: float | None) -> None:
            self.strategy, self.rmse = strategy, rmse

        def row(self) -> dict:
            return {"strategy": self.strategy, "accuracy": None, "rmse": self.rmse}

    report = build_report([Result("scratch", 1.0), Result("finetune", None),
                           Result("linear_probe", 1.5)], run_dir=None)
    gains = {r["strategy"]: r["transfer_gain"] for r in report.rows}
    assert gains == {"scratch": None, "finetune": None, "linear_probe": pytest.approx(-0.5)}
    assert len(report.warnings) == 1 and "linear_probe" in report.warnings[0]


def test_comparison_table_shows_a_missing_metric_as_a_dash():
    from transferlab.api.compare import ComparisonReport, format_table

    rows = [{"strategy": "finetune", "accuracy": None, "rmse": None, "macro_f1": None,
             "wall_seconds": 1.0, "transfer_gain": None},
            {"strategy": "scratch", "accuracy": None, "rmse": 0.5, "macro_f1": None,
             "wall_seconds": 2.0, "transfer_gain": None}]
    lines = format_table(ComparisonReport(rows, "scratch", [], None)).splitlines()
    assert lines[1].split() == ["finetune", "-", "-", "1.0", "-"]
    assert lines[2].split() == ["scratch", "0.5000", "-", "2.0", "baseline"]
