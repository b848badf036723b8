"""Image-folder loading at scale: decode once into the decode cache, then feed training (issue 15).

Generates folders of photo-like JPEG/PNG files (10 classes, sides 100-140 px, under --out; a
finished folder is reused), then for each size prints, from fresh processes:

  first run   scan + decode + write the decode cache (cold cache; time, img/s, peak RSS)
  second run  scan + read the decode cache (warm cache; time, peak RSS), then the img/s fed to
              training: random batches of the auto recipe's batch size gathered through
              ImageSet.batch with the real train transform (shift + flip + resize + normalise)
              at --image-size px, after ImageSet.place as the Trainer calls it

Peak RSS is the process's high-water mark (resource.getrusage), which counts the Python + torch
baseline (about 0.3-0.5 GB) too. Goal: under 3 GB for 100,000 images at 96 px.

    python bench/data_bench.py --out /tmp/data-bench                 # 10,000 and 100,000
    python bench/data_bench.py --out /tmp/data-bench --sizes 10000   # the small one only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = 10
DONE = ".complete"


def photo(seed: int) -> Image.Image:
    """A smooth colour field with texture, 100-140 px a side, like a small photo."""
    rng = np.random.default_rng(seed)
    w, h = (int(v) for v in rng.integers(100, 141, 2))
    coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    field = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = rng.integers(-12, 13, (h, w, 1), dtype=np.int16)
    return Image.fromarray(np.clip(field + noise, 0, 255).astype(np.uint8))


def write_one(root: Path, i: int) -> None:
    folder = root / f"class_{i % CLASSES:02d}"
    if i % 4 == 3:  # a quarter PNG, the rest JPEG
        photo(i).save(folder / f"img_{i:06d}.png", compress_level=1)
    else:
        photo(i).save(folder / f"img_{i:06d}.jpg", quality=90)


def generate(root: Path, n: int) -> Path:
    """root/class_XX/img_NNNNNN.{jpg,png}; reused when a previous generation finished."""
    if (root / DONE).is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    for c in range(CLASSES):
        (root / f"class_{c:02d}").mkdir(parents=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda i: write_one(root, i), range(n), chunksize=256))
    (root / DONE).write_text(str(n))
    print(f"generated {n} images in {root} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return root


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def load(root: Path, size: int):
    from transferlab.data import load_dataset

    t0 = time.perf_counter()
    data = load_dataset(str(root), "train", size)
    return data, time.perf_counter() - t0


def feed_rate(data, size: int, device_name: str, batches: int) -> dict:
    """Img/s through ImageSet.batch with the train transform, batches of the recipe's size."""
    import torch

    from transferlab.backbones.weights import WeightsSpec
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.device import resolve_device
    from transferlab.engine.recipe import auto_recipe

    device = resolve_device(device_name)
    spec = WeightsSpec("efficientnet_lite0", "bench")
    recipe = auto_recipe(len(data), spec, data.source_size, device, {"image_size": size})
    placed = data.place(device)
    pre = Preprocess.from_spec(spec, recipe.image_size)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data), generator=gen)
    b = recipe.batch_size
    t0, fed = time.perf_counter(), 0
    for step in range(batches):
        idx = order[(step * b) % len(data):][:b]
        x = data.batch(idx, pre, device, True, gen, recipe.shift, recipe.flip)
        fed += len(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"feed_img_s": fed / (time.perf_counter() - t0), "batch": b, "placed": placed,
            "train_size": recipe.image_size, "device": str(device)}


def child(args: argparse.Namespace) -> None:
    """One measured process: 'cold' decodes into an empty cache, 'warm' reads it and feeds."""
    root = Path(args.child)
    if args.phase == "cold":
        shutil.rmtree(os.environ["TRANSFERLAB_CACHE"], ignore_errors=True)
    data, seconds = load(root, args.image_size)
    out = {"phase": args.phase, "images": len(data), "seconds": seconds,
           "stored": list(data.images.shape[1:]), "file_backed": data.file_backed,
           "decoded_now": data.originals["decode_cache"]["decoded_now"],
           "load_rss_mb": peak_rss_mb()}
    if args.phase == "warm":
        out.update(feed_rate(data, args.image_size, args.device, args.batches))
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out), flush=True)


def measure(root: Path, cache: Path, args: argparse.Namespace, phase: str) -> dict:
    cmd = [sys.executable, __file__, "--child", str(root), "--phase", phase,
           "--image-size", str(args.image_size), "--device", args.device,
           "--batches", str(args.batches)]
    env = {**os.environ, "TRANSFERLAB_CACHE": str(cache)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{phase} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(n: int, cold: dict, warm: dict, cache: Path) -> None:
    size_mb = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 2**20
    where = "file-backed" if warm["file_backed"] else "in RAM"
    print(f"\n{n} images -> stored {cold['stored']} ({where}, decode cache {size_mb:.0f} MB)")
    print(f"  first run  (cold cache): {cold['seconds']:7.1f} s  "
          f"{cold['images'] / cold['seconds']:8.0f} img/s  peak RSS {cold['peak_rss_mb']:6.0f} MB"
          f"  decoded: {cold['decoded_now']}")
    print(f"  second run (warm cache): {warm['seconds']:7.1f} s  "
          f"{warm['images'] / warm['seconds']:8.0f} img/s  peak RSS {warm['load_rss_mb']:6.0f} MB"
          f"  decoded: {warm['decoded_now']}")
    print(f"  fed to training: {warm['feed_img_s']:8.0f} img/s (batch {warm['batch']}, "
          f"{warm['train_size']} px, train transform, {warm['device']}; {warm['placed']})  "
          f"peak RSS {warm['peak_rss_mb']:6.0f} MB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="data-bench", help="folder for generated images and caches")
    p.add_argument("--sizes", default="10000,100000", help="comma-separated image counts")
    p.add_argument("--image-size", type=int, default=96, help="stored and trained size (px)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batches", type=int, default=100, help="batches timed for the feed rate")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--phase", choices=("cold", "warm"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    out = Path(args.out)
    for n in (int(s) for s in args.sizes.split(",")):
        root = generate(out / f"folder-{n}", n)
        cache = out / f"cache-{n}"
        cold = measure(root, cache, args, "cold")
        warm = measure(root, cache, args, "warm")
        report(n, cold, warm, cache)


if __name__ == "__main__":
    main()
