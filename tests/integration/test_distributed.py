"""torchrun with 2 CPU processes (gloo on loopback) reproduces a single-process fit.

Data: 3 classes x 16 images → 39 train / 9 test. With batch 8 the last training batch has 7
images (shards 4 + 3: the uneven-shard loss weighting is exercised) and the test set splits
5 + 4 (uneven evaluation shards, no padding).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import write_folder

FIT = ["fit", "--strategy", "finetune", "--image-size", "32", "--epochs", "2",
       "--batch-size", "8", "--per-class", "0", "--val-fraction", "0", "--device", "cpu",
       "--deterministic", "--seed", "0", "--lr", "3e-3"]
TEST_SIZE = 9
# Both runs use one thread per process (torchrun's default for workers), so the only numeric
# difference left is reduction order: two shard means averaged by DDP vs one global mean, and
# convolutions over 4-image vs 8-image batches. That is fp32 rounding (~1e-7 relative) which
# AdamW can magnify for parameters whose gradient is ~0 (it normalises the gradient's scale).
# Measured here: 7.5e-7. For scale, the same single-process run with 2 threads instead of 1
# differs from itself by 1.2e-5, while training moves weights by ~1e-2. 1e-4 separates "same
# computation, other rounding" from any real difference (a wrong shard, weight or order moves
# weights by ~1e-3).
WEIGHT_TOL = 1e-4


def _env(tmp: Path) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TRANSFERLAB_CACHE": str(tmp / "cache"),
            "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ddp")
    data = write_folder(tmp / "imgs", classes=3, per_class=16)
    common = [*FIT, "--data", str(data), "--out", str(tmp / "runs")]
    single = subprocess.run([sys.executable, "-m", "transferlab", *common, "--name", "single"],
                            env=_env(tmp), capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    # --standalone: the launcher picks a free port itself, so parallel test runs cannot clash.
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node", "2", "-m", "transferlab", *common, "--name", "ddp"],
                         env=_env(tmp), capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stdout[-3000:] + ddp.stderr[-3000:]
    assert ddp.stdout.count("run folder:") == 1  # rank 0 alone logs
    return tmp / "runs"


@pytest.mark.slow
def test_two_process_weights_match_single_process(runs):
    a = load_file(str(runs / "single" / "model.safetensors"))
    b = load_file(str(runs / "ddp" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    print(f"max |single - ddp| weight difference: {worst:.3g}")
    assert worst <= WEIGHT_TOL, worst
    moved = (a["head.0.weight"] - _initial_head(runs)).abs().max().item()
    assert moved > 100 * max(worst, 1e-7), (moved, worst)  # training did move the weights
    la = [json.loads(r)["train_loss"] for r in (runs / "single/history.jsonl").open()]
    lb = [json.loads(r)["train_loss"] for r in (runs / "ddp/history.jsonl").open()]
    # float32 epoch means summed in another order differ by a few 1e-6 (seen: 2.7e-6); a wrong
    # shard or gradient moves the loss by ~1e-3
    assert len(la) == len(lb) == 2 and np.allclose(la, lb, rtol=2e-5, atol=2e-5), (la, lb)


@pytest.mark.slow
def test_every_test_sample_counted_once(runs):
    m = json.loads((runs / "ddp" / "metrics.json").read_text())
    data = json.loads((runs / "ddp" / "data.json").read_text())
    assert data["test"]["images"] == TEST_SIZE
    assert m["test"]["n"] == TEST_SIZE
    assert sum(map(sum, m["test"]["confusion_matrix"])) == TEST_SIZE
    assert m["environment"]["processes"] == 2
    single = np.load(runs / "single" / "predictions.npz")
    ddp = np.load(runs / "ddp" / "predictions.npz")
    assert len(ddp["y_pred"]) == TEST_SIZE
    assert np.array_equal(single["y_true"], ddp["y_true"])  # gathered in the original order
    assert np.array_equal(single["y_pred"], ddp["y_pred"])
    ref = json.loads((runs / "single" / "metrics.json").read_text())["test"]
    assert m["test"]["accuracy"] == ref["accuracy"]
    assert sorted(p.name for p in runs.iterdir()) == ["ddp", "single"]  # one folder per run


def _initial_head(runs: Path) -> torch.Tensor:
    """The head a run starts from: seeded with --seed before the model is built."""
    from transferlab.model import build_model

    classes = json.loads((runs / "single" / "data.json").read_text())["train"]["classes"]
    torch.manual_seed(0)
    return build_model("efficientnet_lite0", classes, pretrained=True).state_dict()[
        "head.0.weight"]


def _gather_worker(rank: int, init: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    from transferlab.engine import distributed as dist

    try:
        # Uneven shards (2 + 1 rows), then an empty one (3 + 0 rows).
        local = dist.shard(torch.arange(3.0).repeat_interleave(2).view(3, 2))
        assert len(local) == (2 if rank == 0 else 1)
        empty = torch.empty(0) if rank == 1 else torch.ones(3, 4)
        assert dist.all_gather_tensor(empty).shape == (3, 4)
        assert torch.equal(dist.all_gather_tensor(local), torch.arange(3.0).repeat_interleave(
            2).view(3, 2))
        mean = dist.global_mean(torch.tensor(float(rank + 1)), 3 - rank, 5)  # (1*3 + 2*2) / 5
        assert abs(float(mean) - 7 / 5) < 1e-6
        assert dist.any_rank(rank == 1)
        assert dist.main_then_broadcast(lambda: f"from {rank}") == "from 0"
    finally:
        dist.cleanup()


@pytest.mark.slow
def test_collectives_with_uneven_and_empty_shards(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_gather_worker, args=(f"file://{tmp_path / 'rendezvous'}",), nprocs=2)
