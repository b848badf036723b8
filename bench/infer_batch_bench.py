"""Inference batch size on a CPU: images per second of the engine's two large passes (issue 18).

A compare predicts the 10,000 test images once per strategy and extracts features for the
linear probe; both go through the engine's own code here, on real Fashion-MNIST test images:
  predict    `engine.loop.predict_logits` (a frozen trace of the model, engine/inference.py)
  features   `engine.features.compute_features` (the eager backbone, channels-last)
with the bundled EfficientNet-Lite0 and its ImageNet head. Each batch size is timed `--rounds`
times, the sizes interleaved round by round so a slow minute of the machine falls on all of
them alike; the table gives the median and the speed-up over batch 256 (the engine's CPU
batch before this bench). Every batch size must give the same top-1 as batch 256: it prints
the agreement.

    python bench/infer_batch_bench.py                       # 96 px, 4,096 images, 2 rounds
    python bench/infer_batch_bench.py --sizes 32,256 --rounds 3 --images 10000
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from transferlab.backbones.bundled import create_bundled
from transferlab.data import load_dataset
from transferlab.data.transforms import Preprocess
from transferlab.engine.device import inference_batch_size
from transferlab.engine.features import compute_features
from transferlab.engine.loop import predict_logits


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--images", type=int, default=4096, help="test images per pass")
    p.add_argument("--sizes", default="16,32,64,128,256")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cpu = torch.device("cpu")
    backbone = create_bundled("efficientnet_lite0").to(memory_format=torch.channels_last)
    net = create_bundled("efficientnet_lite0")
    net.forward = net.forward_source  # the ImageNet head: real logits to compare
    net = net.to(memory_format=torch.channels_last)
    test = load_dataset("fashion-mnist", "test")
    if args.images < len(test):
        test = test.subset(torch.arange(args.images))
    pre = Preprocess.from_spec(backbone.spec, args.image_size)
    print(f"machine: {platform.machine()} {torch.get_num_threads()} torch threads | torch "
          f"{torch.__version__} | Lite0 {args.image_size} px, {len(test)} test images, "
          f"{args.rounds} rounds | engine's CPU default now: batch {inference_batch_size(cpu)}",
          flush=True)
    rate: dict[tuple[str, int], list[float]] = {}
    top1: dict[int, torch.Tensor] = {}
    for r in range(args.rounds):
        for b in sizes:
            t0 = time.perf_counter()
            logits = predict_logits(net, test, pre, cpu, batch_size=b, desc=f"predict b{b}")
            rate.setdefault(("predict", b), []).append(len(test) / (time.perf_counter() - t0))
            top1[b] = logits.argmax(-1)
            t0 = time.perf_counter()
            compute_features(backbone, test, pre, cpu, batch_size=b, desc=f"features b{b}")
            rate.setdefault(("features", b), []).append(len(test) / (time.perf_counter() - t0))
            print(f"round {r + 1} batch {b:>4}: predict {rate['predict', b][-1]:6.0f} img/s, "
                  f"features {rate['features', b][-1]:6.0f} img/s", flush=True)
    ref = top1.get(256, top1[sizes[-1]])
    base = 256 if 256 in sizes else sizes[-1]
    print(f"\n{'batch':>5} {'predict img/s':>14} {'x b' + str(base):>7} {'features img/s':>15} "
          f"{'x b' + str(base):>7} {'top-1 = b' + str(base):>12}")
    for b in sizes:
        pr, fe = (statistics.median(rate[k, b]) for k in ("predict", "features"))
        pr0, fe0 = (statistics.median(rate[k, base]) for k in ("predict", "features"))
        agree = float((top1[b] == ref).float().mean())
        print(f"{b:>5} {pr:>14.0f} {pr / pr0:>6.2f}x {fe:>15.0f} {fe / fe0:>6.2f}x "
              f"{agree:>12.4f}")


if __name__ == "__main__":
    main()
