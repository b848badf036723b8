"""The rank bench's own statistics: which pairs the fine-tunes resolve, and whether an
estimator orders those the same way. They decide what the bench's output claims."""

from __future__ import annotations

import pytest

from tests.conftest import BENCH, load_script
from transferlab.selection import RankingReport
from transferlab.selection.ranking import RankRow


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCH / "rank_bench.py")


def truth(**accs: list[float]) -> dict:
    return {name: {i: {"accuracy": a, "seconds": 1.0} for i, a in enumerate(acc)}
            for name, acc in accs.items()}


def report(**scores: float | None) -> RankingReport:
    rows = [RankRow(name, "arch", True, 8, 64, {"logme": s}, {"features": 0.0})
            for name, s in scores.items()]
    return RankingReport(rows, "logme", ["logme"], {}, "cpu", 0.0)


def test_only_pairs_apart_by_more_than_their_seed_noise_are_resolved(bench) -> None:
    stats = bench.seed_stats(truth(good=[0.90, 0.91, 0.92], tied=[0.88, 0.93, 0.90],
                                   bad=[0.70, 0.71, 0.69]))
    resolved, total = bench.resolved_pairs(stats)
    assert total == 3
    assert sorted(resolved) == [("good", "bad"), ("tied", "bad")]  # good vs tied: noise


def test_agreement_counts_resolved_pairs_ordered_the_same_way(bench) -> None:
    resolved = [("good", "bad"), ("tied", "bad"), ("good", "other")]
    agree = bench.resolved_agreement(report(good=1.0, tied=-1.0, bad=0.0, other=None),
                                     resolved)
    assert agree == {"logme": (1, 2)}  # tied < bad is wrong; 'other' was not scored


def test_one_seed_resolves_nothing(bench) -> None:
    stats = bench.seed_stats(truth(a=[0.9], b=[0.1]))
    assert bench.resolved_pairs(stats) == ([], 1)
