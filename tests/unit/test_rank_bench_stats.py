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


def test_baselines_rank_imagenet_first_then_runs_then_random(bench, tmp_path) -> None:
    run = str(tmp_path / "source-run")
    (tmp_path / "source-run").mkdir()
    params = {"big": 9, "small": 4, run: 4, "big@random": 9}
    assert [bench.weights_group(n) for n in params] == [2, 2, 1, 0]
    scores = bench.baseline_scores(params)
    first = scores["imagenet-first"]
    assert sorted(params, key=lambda n: -first[n]) == ["big", "small", run, "big@random"]
    assert scores["params"] == {n: float(p) for n, p in params.items()}


def test_baseline_tau_over_all_pairs_and_over_resolved_pairs(bench) -> None:
    accuracy = {"a": 0.9, "b": 0.8, "c": 0.7}
    scores = {"params": {"a": 3.0, "b": 2.0, "c": 1.0},  # the true order
              "reverse": {"a": 1.0, "b": 2.0, "c": 3.0},
              "tied": {"a": 1.0, "b": 1.0, "c": 0.0}}
    taus = bench.correlations(scores, accuracy)
    assert taus["params"] == 1.0 and taus["reverse"] == -1.0
    assert taus["tied"] == pytest.approx(0.816, abs=1e-3)  # tau-b: one tied pair of three
    resolved = [("a", "c"), ("a", "b")]
    assert bench.resolved_agreement(scores, resolved) == {
        "params": (2, 2), "reverse": (0, 2), "tied": (1, 2)}
    assert bench.resolved_tau(scores, resolved) == {"params": 1.0, "reverse": -1.0,
                                                    "tied": 0.5}  # the tie counts as neither


def test_report_and_dict_give_the_same_statistics(bench) -> None:
    rep = report(good=1.0, bad=0.0, other=None)
    assert bench.score_table(rep) == {"logme": {"good": 1.0, "bad": 0.0, "other": None}}
    accuracy = {"good": 0.9, "bad": 0.5, "other": 0.7}
    assert bench.correlations(rep, accuracy) == bench.correlations(bench.score_table(rep),
                                                                   accuracy)
    assert bench.resolved_tau(rep, [("good", "bad")]) == {"logme": 1.0}


def test_demo_split_data_never_uses_the_folder_source_task(bench) -> None:
    with pytest.raises(SystemExit):  # a source variant as the target: no own source task
        bench.parse_args(["--data", "fashion-mnist-source-inverted"])
    args = bench.parse_args(["--data", "fashion-mnist-target", "--quick"])
    assert (args.per_class, args.seeds, args.epochs) == (5, 1, 1)
    ok = bench.parse_args(["--data", "fashion-mnist-source", "--pretrained-run", "none",
                           "--backbones", "a,b@random"])
    assert bench.candidates(ok) == ["a", "b@random"]


def test_demo_target_pretrains_on_the_demo_source(bench, tmp_path, monkeypatch) -> None:
    """The target holds classes 5-9 only: the bench's source is the split's own source, not
    an image folder cut out of the target's training images."""
    seen = {}

    class Result:
        metrics, wall_seconds = {"accuracy": 0.5}, 1.0

    monkeypatch.setattr(bench, "prepare_data", lambda cfg: None)
    monkeypatch.setattr(bench, "run_strategy",
                        lambda cfg, *a, **k: seen.setdefault("cfg", cfg) and Result())
    monkeypatch.setattr(bench, "write_source_task", lambda *a: pytest.fail("folder source"))
    args = bench.parse_args(["--data", "fashion-mnist-target", "--quick"])
    assert bench.pretrain_source(args, tmp_path) == str(tmp_path / "source-run")
    assert (seen["cfg"].data, seen["cfg"].per_class) == ("fashion-mnist-source", 20)
