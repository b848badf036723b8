"""--balance auto vs none on a 10:1 imbalanced Fashion-MNIST subset, 3 seeds (issue 17, part 5).

Training set (drawn per seed from the 60k training images, written as an IDX folder in a
temporary directory): classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat) 100 images each,
classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) 10 each: 550 images, ratio 10, so auto
resolves to logit adjustment (engine/balance.py AUTO_MODE). Test: the standard balanced 10k test
set (a seeded --max-test subset of it, the same for both settings of a seed). Both settings fit
the default strategy (finetune: what `transferlab fit` does with no flags) with the auto recipe,
same seed and images; the smallest class is too small for a validation split (10 x 10% < 3), so
every run trains on all 550 images and keeps its last epoch. Temperature scaling is off
(--calibration none): without a validation split it would train every model 3 more times (cross-
fitting), and this bench measures balancing alone. Metric: balanced accuracy (mean per-class
recall), since plain accuracy on a balanced test set would hide nothing but also says less.
Goal: auto - none >= +3 points on the mean, and no seed worse.

`--ceiling` also trains, per seed, on a balanced set with --major images of every class (no
validation split either, so it too trains on all its images): what the rare classes would get
if their missing images existed. ceiling - none is the most any balancing could win back, since
a reweighting or a prior shift only moves decision boundaries and adds no information.

    python bench/imbalance_bench.py                  # CPU-friendly: 64 px, 2,000 test images
    python bench/imbalance_bench.py --image-size 0 --max-test 0   # recipe's size, full test
    python bench/imbalance_bench.py --modes auto,sampler   # more settings, each vs none
    python bench/imbalance_bench.py --rare 0,2,3,4,6   # the rare classes are the confusable ones
    python bench/imbalance_bench.py --ceiling        # and the balanced-training-set reference
    python bench/imbalance_bench.py --quick          # a tiny check that it runs (not the bench)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from transferlab import fit
from transferlab.data.idx import DEBIAN_FASHION_MNIST, FASHION_CLASSES, load_idx

GOAL_POINTS = 3.0


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file (the format `data.idx` reads)."""
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(bytes([0, 0, 0x08, array.ndim]) + dims + array.astype(np.uint8).tobytes())


def imbalanced_folder(src: Path, dest: Path, counts: list[int], seed: int) -> Path:
    """An IDX folder with counts[c] training images of class c (drawn with `seed`) and the
    source's test files as they are. "fashion" in the name keeps Fashion-MNIST's class names."""
    train = load_idx(src, "train")
    images, labels = train.images[:, 0].numpy(), train.labels.numpy()
    rng = np.random.default_rng(seed)
    picked = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == c), n, replace=False) for c, n in enumerate(counts)]))
    dest.mkdir(parents=True)
    write_idx(dest / "train-images-idx3-ubyte", images[picked])
    write_idx(dest / "train-labels-idx1-ubyte", labels[picked])
    for found in sorted(src.glob("t10k-*-idx*-ubyte*")):
        shutil.copy(found, dest / found.name)
    return dest


def run_one(data: Path, balance: str, seed: int, args, name: str | None = None) -> dict:
    t0 = time.perf_counter()
    extra = {"epochs": args.epochs} if args.epochs else {}
    if name == "ceiling":  # no validation split, like the imbalanced runs: all images train
        extra["val_fraction"] = 0.0
    run = fit(str(data), strategy=args.strategy, per_class=0, seed=seed, balance=balance,
              calibration="none",
              image_size=args.image_size or None, max_test=args.max_test or None,
              device=args.device, out=args.out, name=f"{name or balance}-{seed}", log=None,
              **extra)
    saved = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    return {"bal_acc": run.metrics["balanced_accuracy"], "acc": run.metrics["accuracy"],
            "resolved": saved["balance"]["resolved"], "seconds": time.perf_counter() - t0}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEBIAN_FASHION_MNIST), help="Fashion-MNIST IDX folder")
    p.add_argument("--major", type=int, default=100, help="images of classes 0-4")
    p.add_argument("--minor", type=int, default=10, help="images of classes 5-9")
    p.add_argument("--rare", default="5,6,7,8,9", help="classes that get --minor images (the "
                   "rest get --major); 0,2,3,4,6 makes the rare ones the confusable tops "
                   "(T-shirt/top, Pullover, Dress, Coat, Shirt)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--strategy", default="finetune")
    p.add_argument("--modes", default="auto", help="comma-separated --balance settings, each "
                   "measured against none on the same images (e.g. auto,sampler)")
    p.add_argument("--image-size", type=int, default=64, help="0 = the recipe's choice")
    p.add_argument("--max-test", type=int, default=2000, help="0 = the whole test set")
    p.add_argument("--epochs", type=int, default=0, help="0 = the auto recipe's")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/bench-imbalance")
    p.add_argument("--ceiling", action="store_true", help="also train on --major images of "
                   "every class (balance none): the most balancing could win back")
    p.add_argument("--quick", action="store_true", help="20/2 images, 32 px, 2 epochs, 200 "
                   "test images, seeds 0,1: checks the script runs, measures nothing")
    args = p.parse_args()
    if args.quick:
        args.major, args.minor, args.image_size, args.max_test = 20, 2, 32, 200
        args.epochs, args.seeds = 2, "0,1"
    return args


def main() -> None:
    args = parse()
    seeds = [int(s) for s in args.seeds.split(",")]
    rare = sorted({int(c) for c in args.rare.split(",")})
    if not rare or not set(rare) < set(range(10)):
        raise SystemExit(f"--rare {args.rare}: give class indices 0-9, not all of them")
    counts = [args.minor if c in rare else args.major for c in range(10)]

    def named(cs: list[int]) -> str:
        return f"classes {','.join(map(str, cs))} ({', '.join(FASHION_CLASSES[c] for c in cs)})"

    common = [c for c in range(10) if c not in rare]
    print(f"imbalance bench: {args.strategy}, train {args.major} x {named(common)} + "
          f"{args.minor} x {named(rare)} = {sum(counts)} images "
          f"(ratio {args.major / args.minor:g}); test: balanced, max-test "
          f"{args.max_test or 'all'}; image-size {args.image_size or 'recipe'}; epochs "
          f"{args.epochs or 'recipe'}; seeds {args.seeds}; device {args.device}"
          + ("; QUICK (not the benchmark)" if args.quick else ""), flush=True)
    modes = [m for m in args.modes.split(",") if m and m != "none"]
    print(f"{'seed':>4} {'none bal-acc':>12} " + " ".join(
        f"{m + ' bal-acc':>14} {'diff pts':>9} {'→':>12}" for m in modes)
        + (f" {'ceiling bal-acc':>15} {'gap pts':>8}" if args.ceiling else "")
        + f" {'none acc':>9} {'s':>6}", flush=True)
    diffs: dict[str, list[float]] = {m: [] for m in modes}
    gaps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="transferlab-imbalance-") as tmp:
        for seed in seeds:
            data = imbalanced_folder(Path(args.data), Path(tmp) / f"fashion-{seed}", counts,
                                     seed)
            none = run_one(data, "none", seed, args)
            row, seconds = f"{seed:>4} {none['bal_acc']:>12.4f}", none["seconds"]
            for m in modes:
                r = run_one(data, m, seed, args)
                diff = 100 * (r["bal_acc"] - none["bal_acc"])
                diffs[m].append(diff)
                row += f" {r['bal_acc']:>14.4f} {diff:>+9.2f} {r['resolved']:>12}"
                seconds += r["seconds"]
            if args.ceiling:
                full = imbalanced_folder(Path(args.data), Path(tmp) / f"fashion-full-{seed}",
                                         [args.major] * 10, seed)
                c = run_one(full, "none", seed, args, name="ceiling")
                gaps.append(100 * (c["bal_acc"] - none["bal_acc"]))
                row += f" {c['bal_acc']:>15.4f} {gaps[-1]:>+8.2f}"
                seconds += c["seconds"]
            print(row + f" {none['acc']:>9.4f} {seconds:>6.0f}", flush=True)
    for m in modes:
        mean = statistics.mean(diffs[m])
        held = mean >= GOAL_POINTS and min(diffs[m]) >= 0
        print(f"mean difference ({m} - none): {mean:+.2f} points balanced accuracy; worst seed "
              f"{min(diffs[m]):+.2f}; goal (>= +{GOAL_POINTS:g} mean, no seed worse): "
              f"{'held' if held else 'NOT held'}")
        if gaps and statistics.mean(gaps) > 0:
            print(f"  of the gap to the balanced training set ({statistics.mean(gaps):+.2f} "
                  f"points on the mean), {m} wins back "
                  f"{100 * mean / statistics.mean(gaps):.0f}%")

if __name__ == "__main__":
    main()
