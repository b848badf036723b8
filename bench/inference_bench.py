"""Test-set prediction on a CPU: eager PyTorch vs the frozen trace (engine/inference.py).

Predicts the Fashion-MNIST test set with EfficientNet-Lite0 (bundled ImageNet weights, a new
10-class head) through `engine.loop.predict_logits`, the path `fit`, `compare` and `evaluate`
use, alternating the eager model and the traced fast path in one process so that both see the
same machine. Prints images per second of each, the ratio and the largest logit difference.
Run it alone: anything else on the cores moves both numbers.

    python bench/inference_bench.py                    # 10,000 images at 96 px, 2 rounds
    python bench/inference_bench.py --quick            # 512 images at 64 px, 1 round
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from transferlab.data import load_dataset
from transferlab.data.transforms import Preprocess
from transferlab.engine import inference
from transferlab.engine.loop import predict_logits
from transferlab.model import build_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--image-size", type=int, default=96, help="the CPU auto recipe's size")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.image_size, args.rounds = 512, 64, 1
    return args


def timed(model, data, pre, fast: bool) -> tuple[float, torch.Tensor]:
    inference.FAST_MIN_ROWS = 0 if fast else 10**12
    t0 = time.perf_counter()
    logits = predict_logits(model, data, pre, torch.device("cpu"))
    return time.perf_counter() - t0, logits


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    test = load_dataset("fashion-mnist", "test")
    data = test.subset(torch.arange(min(args.images, len(test))))
    model = build_model("efficientnet_lite0", test.classes, image_size=args.image_size).eval()
    pre = Preprocess.from_spec(model.spec, args.image_size)
    print(f"inference bench: {len(data)} Fashion-MNIST test images at {args.image_size} px, "
          f"EfficientNet-Lite0, cpu, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'round':>5} {'eager s':>8} {'traced s':>9} {'eager img/s':>12} "
          f"{'traced img/s':>13} {'speed-up':>9} {'max |diff|':>11}")
    totals = [0.0, 0.0]
    for r in range(args.rounds):
        eager_s, eager = timed(model, data, pre, fast=False)
        fast_s, fast = timed(model, data, pre, fast=True)  # includes tracing (~1.5 s)
        totals[0] += eager_s
        totals[1] += fast_s
        diff = float((eager - fast).abs().max())
        print(f"{r:>5} {eager_s:>8.2f} {fast_s:>9.2f} {len(data) / eager_s:>12.1f} "
              f"{len(data) / fast_s:>13.1f} {eager_s / fast_s:>8.2f}x {diff:>11.2e}", flush=True)
    print(f"all rounds: eager {totals[0]:.2f} s, traced {totals[1]:.2f} s, "
          f"speed-up {totals[0] / totals[1]:.2f}x (tracing included)")


if __name__ == "__main__":
    main()
