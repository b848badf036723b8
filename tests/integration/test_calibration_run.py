"""A fit run on tiny data fits a temperature, saves it with the model and reports calibration."""

from __future__ import annotations

import json

import pytest

from transferlab.api.runner import run_strategy
from transferlab.api.saved import evaluate
from transferlab.config import RunConfig
from transferlab.data import load_dataset, make_splits
from transferlab.engine.calibrate import CV_FOLDS, stratified_folds
from transferlab.model import load_model


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tests.conftest import write_folder

    return write_folder(tmp_path_factory.mktemp("data") / "imgs", classes=3, per_class=16)


def _run(folder, tmp_path, strategy: str, val_fraction: float, calibration: str = "auto"):
    data = load_dataset(str(folder), "train", image_size=32)
    splits = make_splits(data, None, per_class=None, val_fraction=val_fraction, seed=0,
                         test_fraction=0.25)
    cfg = RunConfig(strategy=strategy, image_size=32, epochs=1, batch_size=12, lr=3e-3,
                    device="cpu", out=str(tmp_path), seed=0, per_class=None,
                    calibration=calibration)
    lines: list[str] = []
    result = run_strategy(cfg, strategy, splits, tmp_path / strategy, log=lines.append)
    return splits, result, lines


def _check_saved(run_dir, n_test: int) -> dict:
    c = json.loads((run_dir / "metrics.json").read_text())["test"]["calibration"]
    assert c["temperature"] > 0 and c["n"] == n_test
    for part in ("before", "after"):
        assert sum(b["count"] for b in c[part]["bins"]) == n_test
        assert 0.0 <= c[part]["ece"] <= 1.0 and c[part]["nll"] > 0
    assert c["after"]["nll"] <= c["before"]["nll"] + 0.05  # fitted elsewhere: about as good
    assert load_model(run_dir).info.temperature == pytest.approx(c["temperature"])
    return c


@pytest.mark.slow
def test_no_validation_split_calibrates_by_cross_fitting(folder, tmp_path):
    splits, result, lines = _run(folder, tmp_path, "linear-probe", 0.0)
    assert splits.val is None
    c = _check_saved(result.run_dir, len(splits.test))
    assert c["fitted_on"].startswith(f"{CV_FOLDS}-fold cross-fitting on the {len(splits.train)}")
    assert sum("calibration: fold" in line for line in lines) == CV_FOLDS
    assert any(line.startswith("calibration (test): ECE") for line in lines)
    # evaluate on the same held-out images reports the same calibration
    m = evaluate(result.run_dir, str(folder), split="train", device="cpu", warn=None)
    assert m["calibration"]["temperature"] == pytest.approx(c["temperature"])
    assert m["calibration"]["fitted_on"] == c["fitted_on"]


@pytest.mark.slow
def test_validation_split_is_used_when_there_is_one(folder, tmp_path):
    splits, result, lines = _run(folder, tmp_path, "finetune", 0.34)
    assert splits.val is not None
    c = _check_saved(result.run_dir, len(splits.test))
    assert c["fitted_on"] == f"validation split ({len(splits.val)} images)"
    assert not any("calibration: fold" in line for line in lines)


@pytest.mark.slow
def test_holdout_fits_t_on_the_half_that_did_not_choose_the_epoch(folder, tmp_path):
    splits, result, lines = _run(folder, tmp_path, "finetune", 0.5, calibration="holdout")
    c = _check_saved(result.run_dir, len(splits.test))
    n_val = len(splits.val)
    held = int(c["fitted_on"].split("(")[1].split(" ")[0])
    assert c["fitted_on"] == (f"held-back half of the validation split ({held} images; "
                              f"the other {n_val - held} chose the epoch)")
    assert 0 < held < n_val
    assert any(line.startswith("calibration: T = ") for line in lines)


@pytest.mark.slow
def test_crossfit_cross_fits_even_with_a_validation_split(folder, tmp_path):
    splits, result, lines = _run(folder, tmp_path, "linear-probe", 0.34, calibration="crossfit")
    assert splits.val is not None
    c = _check_saved(result.run_dir, len(splits.test))
    assert c["fitted_on"] == (f"{CV_FOLDS}-fold cross-fitting on the {len(splits.train)} "
                              "training images (--calibration crossfit)")
    assert sum("calibration: fold" in line for line in lines) == CV_FOLDS


def test_holdout_deals_the_validation_split_in_disjoint_stratified_halves():
    import torch

    from transferlab.data import DataSplits
    from transferlab.engine.calibrate import Calibrator

    class Part:
        def __init__(self, labels, rows):
            self.labels, self.rows = labels, rows

        def __len__(self):
            return len(self.labels)

        def subset(self, idx):
            return Part(self.labels[idx], [self.rows[i] for i in idx.tolist()])

    class Info:
        task = "classification"

    class Model:
        info = Info()

    val = Part(torch.tensor([0] * 6 + [1] * 6 + [2] * 4), list(range(16)))
    splits = DataSplits(Part(torch.tensor([0, 1, 2]), [0, 1, 2]), val, val)
    cal = Calibrator(Model(), splits, None, [], torch.device("cpu"), 0, mode="holdout")
    select, held = cal.train_splits.val, cal.held
    assert cal.train_splits.train is splits.train and cal.splits.val is val
    assert sorted(select.rows + held.rows) == list(range(16))
    for c in (0, 1, 2):  # each class split in half
        assert int((select.labels == c).sum()) == int((held.labels == c).sum())
    auto = Calibrator(Model(), splits, None, [], torch.device("cpu"), 0, mode="auto")
    assert auto.train_splits is splits and auto.held is None


def test_stratified_folds_cover_every_row_once():
    import torch

    labels = torch.tensor([0] * 7 + [1] * 5 + [2] * 2)
    folds = stratified_folds(labels, 3, seed=0)
    assert sorted(torch.cat(folds).tolist()) == list(range(14))
    for c, n in ((0, 7), (1, 5)):
        counts = [int((labels[f] == c).sum()) for f in folds]
        assert sum(counts) == n and max(counts) - min(counts) <= 1
