"""Intervals of LogME/LEEP from random halves, and the ties they mark in a ranking (tiny
synthetic features, no backbones)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transferlab.selection import bootstrap as bs
from transferlab.selection.estimators import leep, logme
from transferlab.selection.ranking import RankingReport, RankRow, _runner_up_note


def classes(n: int, dim: int, sep: float, seed: int = 0, k: int = 3) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """n rows of k Gaussian classes `sep` apart (per coordinate) in `dim` dimensions."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n // k)
    centres = rng.normal(size=(k, dim)) * sep
    return centres[y] + rng.normal(size=(len(y), dim)), y


@pytest.mark.parametrize("shape", [(60, 20), (40, 80)])  # covariance and Gram routes
def test_batched_logme_of_a_subset_equals_logme_of_those_rows(shape):
    rng = np.random.default_rng(1)
    f, y = rng.normal(size=shape), rng.integers(0, 3, shape[0])
    halves = list(bs.half_samples(y, 3, seed=5))
    got = bs.logme_subsets(f, y, iter(halves))
    assert got == pytest.approx([logme(f[h], y[h]) for h in halves], rel=1e-9)
    probs = rng.dirichlet(np.ones(4), shape[0])
    assert bs.leep_subsets(probs, y, iter(halves)) == pytest.approx(
        [leep(probs[h], y[h]) for h in halves])


def test_halves_keep_each_class_half_and_never_repeat_a_row():
    y = np.array([0] * 10 + [1] * 5 + [2])
    for rows in bs.half_samples(y, 5, seed=0):
        assert len(set(rows.tolist())) == len(rows)
        assert np.bincount(y[rows]).tolist() == [5, 2, 1]


def test_interval_contains_the_score_and_shrinks_with_more_rows():
    widths = []
    for n in (60, 600):
        f, y = classes(n, 16, 0.5)
        point = logme(f, y)
        iv = bs.score_interval("logme", point, f, y, rounds=40, seed=0)
        assert iv.low < point < iv.high and iv.rounds == 40 and iv.std_error > 0 and iv.seconds >= 0
        widths.append(iv.high - iv.low)
    assert widths[1] < widths[0] / 2  # ten times the rows: about a third of the width


def test_intervals_only_for_resampled_scores():
    f, y = classes(30, 4, 1.0)
    assert bs.score_interval("knn", 0.5, f, y) is None
    assert bs.score_interval("leep", -1.0, f, y, probs=None) is None


def interval_of(f: np.ndarray, y: np.ndarray) -> bs.Interval:
    return bs.score_interval("logme", logme(f, y), f, y, rounds=30, seed=0)


def row(name: str, f: np.ndarray, y: np.ndarray) -> RankRow:
    return RankRow(name, "arch", True, f.shape[1], 32, {"logme": logme(f, y)},
                   {"features": 0.0}, intervals={"logme": interval_of(f, y)})


def test_identical_features_are_tied_and_separated_ones_are_not():
    good, y = classes(90, 8, 1.5, seed=0)
    poor = np.random.default_rng(3).normal(size=good.shape)  # no class signal at all
    rows = sorted([row("a", good, y), row("a-copy", good.copy(), y), row("poor", poor, y)],
                  key=lambda r: -r.scores["logme"])
    rep = RankingReport(rows, "logme", ["logme"], {}, "cpu", 0.0)
    assert rep.tied_with_top() == [n for n in ("a", "a-copy") if n != rows[0].backbone]
    assert rep.indistinguishable("a", "a-copy") and not rep.indistinguishable("a", "poor")
    table = rep.table().splitlines()
    assert [line.split()[2] for line in table[1:3]] == ["top", "~top"]
    assert table[3].split()[2] != "~top" and "cannot tell the two apart" in rep.table()
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["tied_with_top"] == rep.tied_with_top()
    low = data["rows"][0]["intervals"]["logme"]["low"]
    assert low < data["rows"][0]["scores"]["logme"]
    assert "cannot be told apart" in _runner_up_note(rep, rows[0].backbone)
    assert _runner_up_note(rep, "poor") == ""  # poor vs the better of the two: separated
