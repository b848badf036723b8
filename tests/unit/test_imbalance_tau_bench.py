"""bench/imbalance_tau_bench.py: its balanced accuracy, the prior it shifts by, its refusal."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch

from tests.conftest import BENCH, load_script


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCH / "imbalance_tau_bench.py")


def test_balanced_accuracy_is_the_mean_of_class_recalls(bench) -> None:
    y = torch.tensor([0, 0, 0, 0, 1])
    pred = torch.tensor([0, 0, 0, 0, 0])  # all of class 0 right, none of class 1
    assert bench.balanced_accuracy(pred, y, 2) == pytest.approx(0.5)


def test_log_prior_comes_from_the_runs_training_counts(bench, tmp_path) -> None:
    (tmp_path / "data.json").write_text(json.dumps(
        {"train": {"class_counts": {"a": 90, "b": 10}}}))
    lp = bench.log_prior(tmp_path, ["a", "b"])
    assert lp.tolist() == pytest.approx([math.log(0.9), math.log(0.1)], abs=1e-6)


def test_a_folder_without_runs_names_the_bench_to_run_first(bench, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["imbalance_tau_bench.py", str(tmp_path)])
    with pytest.raises(SystemExit, match="imbalance_bench.py --out"):
        bench.main()
