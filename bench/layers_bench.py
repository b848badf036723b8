"""Which layers transfer, and how far the target is from each source (issue 19, parts 2 and 3).

On the built-in demo split (Fashion-MNIST classes 5-9 as the target): `transferlab layers` for
a backbone (default the bundled ImageNet EfficientNet-Lite0; `--backbone RUN_DIR` takes a run
pretrained on fashion-mnist-source), i.e. for each k the first k stage groups copied, the rest
re-initialised, trained frozen (AnB) and fine-tuned (AnB+), mean and t-interval over seeds.
Then the domain-shift figures (proxy A-distance, MMD²) between each demo source
(fashion-mnist-source, -shuffled, -inverted) and the target, on that backbone's features.

Images are upsampled to 64 px by default: below 64 px EfficientNet-Lite0's features collapse.

    python bench/layers_bench.py --quick       # seconds to minutes on a CPU: 3 k, 2 seeds
    python bench/layers_bench.py               # every k, 3 seeds, 100 labels per class

Every k is independent, so two processes can share the work and one table comes out:

    python bench/layers_bench.py --ks 0,1,2,3,4 --out A &
    python bench/layers_bench.py --ks 5,6,7,8 --skip-shift --out B
    python bench/layers_bench.py --merge A/layers,B/layers --out C
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from transferlab.api.layers import LAYERS_JSON, LayersResult, layers, save_layers
from transferlab.api.runner import prepare_data
from transferlab.config import RunConfig
from transferlab.data import load_dataset
from transferlab.engine.device import resolve_device
from transferlab.selection.domain import measure_domain_shift

TARGET = "fashion-mnist-target"
SOURCES = ("fashion-mnist-source", "fashion-mnist-source-shuffled",
           "fashion-mnist-source-inverted")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny: k in {0, 4, 8}, 2 seeds, "
                   "20 labels per class, 1 epoch, 300 test images, 200 images per domain")
    p.add_argument("--backbone", default="efficientnet_lite0",
                   help="bundled name or a run folder (e.g. pretrained on fashion-mnist-source)")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--epochs", type=int, help="default: the auto recipe's")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--ks", help="comma-separated k values (default: all)")
    p.add_argument("--shift-images", type=int, default=1000, help="images per domain")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="folder for the run folder (default: a temporary folder)")
    p.add_argument("--skip-shift", action="store_true",
                   help="leave out the domain-shift table (another process measures it)")
    p.add_argument("--merge", help="comma-separated layers run folders of the same backbone, "
                   "seeds and recipe but different k: one table and plot in OUT/layers-merged")
    args = p.parse_args(argv)
    if args.quick:
        args.per_class, args.max_test, args.seeds = 20, 300, 2
        args.epochs, args.ks, args.shift_images = args.epochs or 1, args.ks or "0,4,8", 200
    return args


def shift_table(args: argparse.Namespace, cfg: RunConfig) -> list[str]:
    """PAD and MMD² of each demo source against the target's labelled training images."""
    target = prepare_data(cfg, log=lambda *_: None).train
    lines = [f"{'source':<32}{'PAD':>7}{'CV err':>9}{'MMD²':>9}{'images':>12}{'s':>7}"]
    for name in SOURCES:
        t0 = time.perf_counter()
        source = load_dataset(name, "train")
        s = measure_domain_shift(source, target, args.backbone, args.device, args.image_size,
                                 seed=0, max_images=args.shift_images)
        imgs = f"{s['images']['source']}+{s['images']['target']}"
        lines.append(f"{name:<32}{s['pad']:>7.3f}{s['pad_error']:>9.3f}{s['mmd2']:>9.4f}"
                     f"{imgs:>12}{time.perf_counter() - t0:>7.1f}")
    return lines


def merge_runs(run_dirs: list[Path], out: Path) -> LayersResult:
    """One result from layers runs that split the k values between them (processes run side
    by side); refuses runs that differ in backbone, seeds or recipe, or measure a k twice."""
    parts = []
    for run in run_dirs:
        path = Path(run) / LAYERS_JSON
        if not path.is_file():
            raise ValueError(f"--merge: {path} not found; give the layers run folders "
                             "(OUT/layers of each bench run)")
        parts.append(json.loads(path.read_text(encoding="utf-8")))
    first = parts[0]
    for run, part in zip(run_dirs, parts, strict=True):
        for key in ("backbone", "groups", "seeds", "recipe"):
            if part[key] != first[key]:
                raise ValueError(f"--merge: {run} has another {key} than {run_dirs[0]} "
                                 f"({part[key]} vs {first[key]}); merge runs of one setting")
    rows = sorted((r for part in parts for r in part["rows"]), key=lambda r: r["k"])
    ks = [r["k"] for r in rows]
    if len(set(ks)) != len(ks):
        raise ValueError(f"--merge: k measured twice ({ks}); merge runs of different k")
    out.mkdir(parents=True, exist_ok=True)
    result = LayersResult(first["backbone"], first["groups"], rows, out, first["seeds"],
                          sum(part["seconds"] for part in parts), first["recipe"])
    save_layers(result)
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="layers-bench-")
    if args.merge:
        try:
            result = merge_runs([Path(r) for r in args.merge.split(",")],
                                Path(out) / "layers-merged")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        print(f"layers bench: merged {args.merge}")
        print(result.table())
        print(f"layers: {result.seconds:.1f} s (the runs' own times added); plot "
              f"{result.run_dir / 'layers.png'}")
        return
    ks = [int(k) for k in args.ks.split(",")] if args.ks else None
    cfg = RunConfig(data=TARGET, backbone=args.backbone, per_class=args.per_class,
                    max_test=args.max_test, image_size=args.image_size, epochs=args.epochs,
                    seeds=args.seeds, device=args.device, out=out, name="layers")
    device = resolve_device(args.device)
    print(f"layers bench: data {TARGET} ({args.per_class} labels/class, {args.max_test} test "
          f"images), backbone {args.backbone}, {args.image_size}px, epochs "
          f"{args.epochs or 'auto'}, k {args.ks or 'all'}, seeds {args.seeds}, device {device}, "
          f"{torch.get_num_threads()} threads{', quick' if args.quick else ''}; out {out}")
    t0 = time.perf_counter()
    result = layers(cfg, ks, log=lambda *_: None)
    print(result.table())
    print(f"layers: {time.perf_counter() - t0:.1f} s; plot {result.run_dir / 'layers.png'}")
    if args.skip_shift:
        return
    print()
    print(f"domain shift to {TARGET} on {args.backbone} features at {args.image_size}px "
          f"(PAD 0 = indistinguishable, 2 = separable):")
    print("\n".join(shift_table(args, cfg)))


if __name__ == "__main__":
    main()
