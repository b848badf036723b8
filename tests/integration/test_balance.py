"""--balance end to end on a tiny imbalanced folder: the log says what auto chose, config.yaml
records it, and a sampler / class-weighted probe run trains."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import write_folder
from transferlab import fit

SMALL = 6  # class_1 keeps 6 of 30 images: 24 vs 5 train after the 20% test hold-out


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    root = write_folder(tmp_path_factory.mktemp("data") / "imgs", classes=2, per_class=30)
    for f in sorted((root / "class_1").iterdir())[SMALL:]:
        f.unlink()
    return root


def _fit(root, tmp_path, strategy: str, balance: str | None):
    """The fitted run and its log's balance lines."""
    lines: list[str] = []
    run = fit(str(root), strategy=strategy, per_class=0, image_size=32, epochs=2,
              batch_size=8, device="cpu", out=str(tmp_path), name=strategy, seed=0,
              balance=balance, calibration="none", log=lines.append)
    return run, [ln for ln in lines if ln.startswith("balance:")]


def _saved(run) -> dict:
    return yaml.safe_load((run.run_dir / "config.yaml").read_text())


@pytest.mark.slow
def test_auto_turns_logit_adjustment_on_and_says_so(imbalanced, tmp_path):
    run, said = _fit(imbalanced, tmp_path, "finetune", None)
    assert said == ["balance: auto → logit adjustment (largest/smallest = 4.8 > 3: "
                    "'class_0' 24, 'class_1' 5)",
                    "balance: training class prior subtracted from the logits (logit "
                    "adjustment)"]
    prior = run.model.info.extra["logit_adjustment"]  # saved with the model: predict applies it
    assert prior == pytest.approx([math.log(24 / 29), math.log(5 / 29)], abs=1e-5)
    saved = _saved(run)
    assert saved["config"]["balance"] == "auto"
    assert saved["balance"]["resolved"] == "logit-adjust"
    assert saved["balance"]["largest_smallest_ratio"] == 4.8
    w = saved["balance"]["class_weights"]
    assert w["class_1"] / w["class_0"] == pytest.approx(24 / 5, rel=1e-4)
    assert 0.0 <= run.metrics["balanced_accuracy"] <= 1.0


@pytest.mark.slow
def test_sampler_with_weighted_probe_trains_and_is_recorded(imbalanced, tmp_path):
    run, said = _fit(imbalanced, tmp_path, "lp-ft", "sampler")
    assert said == [
        "balance: class-balanced sampler (--balance sampler; largest/smallest = 4.8: "
        "'class_0' 24, 'class_1' 5)"]
    saved = _saved(run)
    assert saved["balance"]["resolved"] == "sampler" and saved["config"]["balance"] == "sampler"
    history = [json.loads(x) for x in (run.run_dir / "history.jsonl").read_text().splitlines()]
    probe = next(r for r in history if r["phase"] == "probe")["probe"]
    assert probe["class_weight"]["1"] / probe["class_weight"]["0"] == pytest.approx(24 / 5)
    assert [r["phase"] for r in history] == ["probe", "finetune", "finetune"]


@pytest.mark.slow
def test_none_records_none_and_logs_it(imbalanced, tmp_path):
    run, said = _fit(imbalanced, tmp_path, "head", "none")
    saved = _saved(run)["balance"]
    assert saved["resolved"] == "none" and "class_weights" not in saved
    assert said == [
        "balance: none (--balance none; largest/smallest = 4.8: 'class_0' 24, 'class_1' 5)"]


def test_cli_refuses_class_balance_for_regression(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "transferlab", "fit", "--data", str(tmp_path),
                           "--task", "regression", "--balance", "weights", "--out",
                           str(tmp_path / "runs")], capture_output=True, text=True,
                          timeout=300, env={**os.environ})
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert err == ["error: --balance weights: task regression has no classes to balance; "
                   "pass e.g. --balance auto"]
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_logit_adjusted_loss_is_logged_recorded_and_not_subtracted_again(imbalanced, tmp_path):
    run, said = _fit(imbalanced, tmp_path, "finetune", "logit-adjust-loss")
    assert "logit_adjustment" not in run.model.info.extra  # the head learned the shift
    assert _saved(run)["balance"]["resolved"] == "logit-adjust-loss"
    assert said == [
        "balance: logit-adjusted loss (--balance logit-adjust-loss; largest/smallest = 4.8: "
        "'class_0' 24, 'class_1' 5)"]
    # the closed-form probe never saw the loss: it gets the post-hoc shift instead
    probe, probe_said = _fit(imbalanced, tmp_path, "linear-probe", "logit-adjust-loss")
    assert probe.model.info.extra["logit_adjustment"] == pytest.approx(
        [math.log(24 / 29), math.log(5 / 29)], abs=1e-5)
    assert probe_said[-1] == ("balance: training class prior subtracted from the logits "
                              "(logit adjustment)")
