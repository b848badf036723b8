"""Exact resume after SIGKILL, checkpoint on SIGTERM, NaN guard, checkpoint mismatch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import write_folder
from transferlab.engine.checkpoint import read_pointer

FIT = ["fit", "--strategy", "finetune", "--image-size", "32", "--epochs", "3",
       "--batch-size", "8", "--per-class", "0", "--val-fraction", "0", "--device", "cpu",
       "--deterministic", "--seed", "3"]


KILL_AT_STEP = Path(__file__).with_name("kill_at_step.py")  # the CLI plus a SIGKILL step hook


def _cli(args, kill_at_step: int | None = None, **kw) -> subprocess.CompletedProcess:
    entry = (["-m", "transferlab"] if kill_at_step is None
             else [str(KILL_AT_STEP), str(kill_at_step)])
    return subprocess.run([sys.executable, *entry, *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("resume") / "imgs", classes=3, per_class=16)


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(data_dir, tmp_path):
    common = [*FIT, "--data", str(data_dir), "--out", str(tmp_path)]
    full = _cli([*common, "--name", "full"])
    assert full.returncode == 0, full.stderr
    # 36 training images, batch 8 → 5 steps per epoch; die in the middle of epoch 2.
    killed = _cli([*common, "--name", "killed"], kill_at_step=7)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    assert read_pointer(tmp_path / "killed" / "checkpoint").startswith("ckpt-00000005")
    resumed = _cli(["fit", "--resume", str(tmp_path / "killed")])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at phase 0, epoch 2" in resumed.stdout + resumed.stderr
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "model.safetensors"))
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert worst <= 1e-6, worst
    history = (tmp_path / "killed" / "history.jsonl").read_text().splitlines()
    assert len(history) == 3


@pytest.mark.slow
def test_sigterm_saves_checkpoint_then_resume(data_dir, tmp_path):
    common = [*FIT, "--data", str(data_dir), "--out", str(tmp_path), "--epochs", "40"]
    proc = subprocess.Popen([sys.executable, "-m", "transferlab", *common, "--name", "t"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hist = tmp_path / "t" / "history.jsonl"
    deadline = time.time() + 300
    while not (hist.exists() and hist.read_text().strip()) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "--resume" in err
    from transferlab.engine.checkpoint import load_checkpoint

    _, opt, progress, _ = load_checkpoint(tmp_path / "t" / "checkpoint")
    assert progress["global_step"] > 0 and opt is not None


def test_nan_loss_stops_with_step_and_lr_and_keeps_last_checkpoint(data_dir, tmp_path,
                                                                    monkeypatch):
    from transferlab.api.runner import run_strategy
    from transferlab.config import RunConfig
    from transferlab.data import load_dataset, make_splits
    from transferlab.engine import loop
    from transferlab.errors import TrainingError

    calls = {"n": 0}
    real = loop.loss_fn

    def poisoned(logits, target, *rest):
        calls["n"] += 1
        loss = real(logits, target, *rest)
        return loss * float("nan") if calls["n"] == 8 else loss

    monkeypatch.setattr(loop, "loss_fn", poisoned)
    data = load_dataset(str(data_dir), "train", 32)
    splits = make_splits(data, None, None, 0.0, 0, 0.25)
    cfg = RunConfig(strategy="lp-ft", image_size=32, epochs=3, batch_size=8, device="cpu",
                    per_class=None, out=str(tmp_path))
    with pytest.raises(TrainingError) as err:
        run_strategy(cfg, "lp-ft", splits, tmp_path / "nan", log=lambda *_: None)
    text = str(err.value)
    assert "step 7" in text and "head=" in text and "lower --lr" in text
    ckpt = tmp_path / "nan" / "checkpoint"
    assert read_pointer(ckpt).startswith("ckpt-00000005-1-1")  # after epoch 1 of phase 1
    state = load_file(str(ckpt / read_pointer(ckpt) / "model.safetensors"))
    assert all(torch.isfinite(v).all() for v in state.values())


def test_checkpoint_from_other_class_count_names_keys(tmp_path):
    from transferlab.errors import CheckpointError
    from transferlab.model import build_model, load_strict

    three = build_model("efficientnet_lite0", ["a", "b", "c"], pretrained=False)
    four = build_model("efficientnet_lite0", ["a", "b", "c", "d"], pretrained=False)
    with pytest.raises(CheckpointError, match=r"head\.0\.weight"):
        load_strict(four, three.state_dict(), "other.safetensors")
