"""Which source transfers: pretrain on the Fashion-MNIST source split, transfer to the target.

Yosinski-style A/B split (src/transferlab/data/demo_split.py): classes 0-4 are the source,
5-9 the target. Four sources are pretrained with `fit` and then compared on the target with
one `compare --backbones` (same split, same seeds, one scratch run = random init):

  imagenet         the bundled ImageNet EfficientNet-Lite0, as shipped
  imagenet-source  ImageNet weights fine-tuned on fashion-mnist-source
  scratch-source   random init trained on fashion-mnist-source
  shuffled         ImageNet weights fine-tuned on fashion-mnist-source-shuffled (random labels)
  inverted         ImageNet weights fine-tuned on fashion-mnist-source-inverted (255 - x)

    python bench/transfer_bench.py --quick     # tiny: a few minutes on 2 CPU cores
    python bench/transfer_bench.py             # 64 px, 1,000 source images/class, 3 seeds

Everything is written under a temporary folder unless --out is given. Temperature scaling is
off (calibration none): it changes no accuracy and would cost three extra trainings per few-shot
row. --quick checks the mechanics only; its sizes are too small for the accuracies to mean much.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from transferlab import compare, fit

SOURCES = (("imagenet-source", "fashion-mnist-source", "finetune"),
           ("scratch-source", "fashion-mnist-source", "scratch"),
           ("shuffled", "fashion-mnist-source-shuffled", "finetune"),
           ("inverted", "fashion-mnist-source-inverted", "finetune"))
FULL = dict(source_per_class=1000, source_epochs=5, per_class=100, epochs=None, seeds=3,
            max_test=2000)
QUICK = dict(source_per_class=30, source_epochs=2, per_class=10, epochs=3, seeds=1,
             max_test=200)


def pretrain(label: str, data: str, strategy: str, args, out: Path) -> Path:
    """One source run (its folder is the next stage's backbone)."""
    run = fit(data, strategy=strategy, backbone="efficientnet_lite0",
              per_class=args.source_per_class, epochs=args.source_epochs,
              image_size=args.image_size, max_test=args.max_test, seed=args.seed,
              device=args.device, calibration="none", out=out, name=f"source-{label}",
              log=None)
    print(f"  pretrained {label:<16} on {data:<30} ({strategy}): test accuracy "
          f"{run.metrics['accuracy']:.4f}, {run.wall_seconds:.1f} s", flush=True)
    return run.run_dir


def row_line(r: dict, seeds: int) -> str:
    """label, strategy, accuracy (mean ± sd across seeds), gain [paired 95%], verdict."""
    acc = f"{r['accuracy']:.4f}"
    spread = (r.get("seeds") or {}).get("accuracy")
    if seeds > 1 and spread:
        acc = f"{spread['mean']:.4f} ± {spread['sd'] or 0:.4f}"
    gain, ci = r.get("transfer_gain"), r.get("gain_ci95")
    gain_text = "baseline" if gain is None else (
        f"{gain:+.4f} [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else f"{gain:+.4f}")
    label = r.get("label") or "random init"
    return (f"{label:<16}{r.get('method') or r['strategy']:<10}{acc:>18}{gain_text:>28}  "
            f"{r.get('verdict') or '-'}")


def settings(args) -> None:
    """--quick fills what was not given with the tiny sizes, else the full ones."""
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: minutes on a CPU")
    p.add_argument("--image-size", type=int, default=64, help="below 64 px EfficientNet-Lite0 "
                   "features collapse")
    for key in FULL:
        p.add_argument("--" + key.replace("_", "-"), type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    args = p.parse_args()
    settings(args)
    with tempfile.TemporaryDirectory(prefix="transfer-bench-") as tmp:
        out = Path(args.out or tmp)
        run(args, out)


def run(args, out: Path) -> None:
    print(f"transfer bench: source fashion-mnist classes 0-4 ({args.source_per_class}/class, "
          f"{args.source_epochs} epochs) -> target classes 5-9 ({args.per_class}/class, "
          f"epochs {args.epochs or 'auto'}), {args.image_size} px, test <= {args.max_test}, "
          f"seeds {args.seed}..{args.seed + args.seeds - 1}, device {args.device}, "
          f"{torch.get_num_threads()} threads{', quick' if args.quick else ''}", flush=True)
    t0 = time.perf_counter()
    backbones = ["imagenet=efficientnet_lite0"] + [
        f"{label}={pretrain(label, data, strategy, args, out)}"
        for label, data, strategy in SOURCES]
    result = compare("fashion-mnist-target", strategies="finetune,scratch", backbones=backbones,
                     per_class=args.per_class, epochs=args.epochs, image_size=args.image_size,
                     max_test=args.max_test, seed=args.seed, seeds=args.seeds,
                     device=args.device, calibration="none", out=out, name="target-compare",
                     log=None)
    print(f"\n{'backbone':<16}{'strategy':<10}{'test accuracy':>18}"
          f"{'gain vs scratch [95%]':>28}  verdict")
    for r in result.rows:
        print(row_line(r, args.seeds))
    for w in result.warnings:
        print(f"WARNING: {w}")
    print(f"recommendation: {result.recommendation}")
    kept = f"; report: {result.run_dir / 'report.html'}" if args.out else ""
    print(f"total {time.perf_counter() - t0:.0f} s{kept}")


if __name__ == "__main__":
    main()
