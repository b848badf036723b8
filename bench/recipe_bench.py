"""Auto recipe vs a naive fixed recipe, few-shot Fashion-MNIST, several seeds (issue 3).

Naive: AdamW lr 1e-3 on every layer, 10 epochs, no schedule, no warmup, no label smoothing,
no augmentation, BatchNorm in train mode. Auto: transferlab's defaults (`fit` with no flags).
Both fine-tune the bundled ImageNet EfficientNet-Lite0 on the same seeded samples.

    python bench/recipe_bench.py                      # CPU-friendly: 64 px, 2,000 test images
    python bench/recipe_bench.py --image-size 0 --max-test 0   # native resolution, full test
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from transferlab.api.runner import prepare_data, run_strategy
from transferlab.config import RunConfig

NAIVE = {"epochs": 10, "lr": 1e-3, "backbone_lr_mult": 1.0, "warmup_frac": 0.0,
         "schedule": "constant", "label_smoothing": 0.0, "shift": 0.0, "flip": False,
         "bn": "train", "weight_decay": 0.01, "grad_clip": None}


def run_one(recipe_name: str, per_class: int, seed: int, args, out: str) -> tuple[float, float]:
    cfg = RunConfig(data=args.data, per_class=per_class, seed=seed, device=args.device,
                    image_size=args.image_size or None, max_test=args.max_test or None,
                    out=out, name=f"{recipe_name}-{per_class}-{seed}",
                    recipe=dict(NAIVE) if recipe_name == "naive" else {})
    splits = prepare_data(cfg, log=lambda *_: None)
    t0 = time.perf_counter()
    result = run_strategy(cfg, "finetune", splits, Path(out) / cfg.name, log=lambda *_: None)
    return result.metrics["accuracy"], time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--per-class", default="10,100")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--image-size", type=int, default=64, help="0 = the recipe's choice")
    p.add_argument("--max-test", type=int, default=2000, help="0 = the whole test set")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/bench-recipe")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{'labels/class':>12} {'recipe':>6} {'mean acc':>9} {'min':>7} {'max':>7} "
          f"{'mean s':>7}  per-seed")
    for per_class in [int(x) for x in args.per_class.split(",")]:
        for name in ("naive", "auto"):
            runs = [run_one(name, per_class, s, args, args.out) for s in seeds]
            accs = [a for a, _ in runs]
            print(f"{per_class:>12} {name:>6} {statistics.mean(accs):>9.4f} {min(accs):>7.4f} "
                  f"{max(accs):>7.4f} {statistics.mean(t for _, t in runs):>7.1f}  "
                  + " ".join(f"{a:.4f}" for a in accs), flush=True)


if __name__ == "__main__":
    main()
