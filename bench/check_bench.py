"""Data-health check: recall on planted near-duplicates, false pairs on a clean folder, speed.

Writes Fashion-MNIST (Debian's IDX files) as PNG image folders under --out, train + test:

  clean/    the first --n train and n/6 test images, nothing added
  planted/  the same, plus 5% of train copied back into train and 2% of train copied into
            test (leaks), each copy perturbed: shifted 1-2 px (edges filled black), resized to
            22-56 px, saved as JPEG quality 70-90 (the loader decodes it back to 28 px)

For dHash and pHash it prints, per Hamming threshold, the recall on the planted pairs (share of
planted pairs whose hashes are within the threshold; goal >= 0.95) and the near-duplicate pairs
found in the clean folder (goal <= 1% of images; Fashion-MNIST has genuinely near-identical
items, and every pair found there is counted). Then the seconds `transferlab check` takes on
the planted folder, cold (empty decode cache: scan + decode + hash + search) and warm (decode
cache hit: hashing + search), each in a fresh process.

    python bench/check_bench.py --out /tmp/check-bench            # 60,000 train images
    python bench/check_bench.py --out /tmp/check-bench --quick    # 3,000: a smoke run
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from transferlab.data.idx import DEBIAN_FASHION_MNIST, load_idx
from transferlab.data.phash import METHODS, image_hashes, near_pairs

THRESHOLDS = (0, 2, 4, 6, 8, 10, 12)
PLANT_TRAIN, PLANT_LEAK = 0.05, 0.02
DONE = ".complete"


def perturb(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    """A near-duplicate: shifted 1-2 px, resized to 22-56 px, JPEG quality 70-90."""
    dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
    if dy == 0 and dx == 0:
        dx = int(rng.choice([-1, 1]))
    out = np.zeros_like(pixels)
    h, w = pixels.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        pixels[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    side = int(rng.integers(22, 57))
    im = Image.fromarray(out).resize((side, side), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(rng.integers(70, 91)))
    return buf.getvalue()


def write_folders(root: Path, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """clean/ and planted/ folders (reused when complete); the planted (original, copy) paths."""
    pairs_file = root / "planted_pairs.json"
    if (root / DONE).is_file():
        return [tuple(p) for p in json.loads(pairs_file.read_text())]
    shutil.rmtree(root, ignore_errors=True)
    train, test = load_idx(DEBIAN_FASHION_MNIST, "train"), load_idx(DEBIAN_FASHION_MNIST, "test")
    n_test = max(n // 6, 50)
    rng = np.random.default_rng(seed)
    pairs = []
    for kind in ("clean", "planted"):
        for split, data, count in (("train", train, n), ("test", test, n_test)):
            for c in data.classes:
                (root / kind / split / c.replace("/", "-")).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                _write(root / kind / split, data, i, f"{i:05d}.png", None)
    originals = rng.choice(n, int(n * (PLANT_TRAIN + PLANT_LEAK)), replace=False)
    cut = int(n * PLANT_TRAIN)
    for k, i in enumerate(originals):
        split = "train" if k < cut else "test"
        name = f"copy{k:05d}-of-{i:05d}.jpg"
        copy = _write(root / "planted" / split, train, int(i), name,
                      perturb(train.images[i, 0].numpy(), rng))
        pairs.append((str(_path(root / "planted" / "train", train, int(i), f"{i:05d}.png")),
                      str(copy)))
    pairs_file.write_text(json.dumps(pairs))
    (root / DONE).write_text(str(n))
    return pairs


def _path(base: Path, data, i: int, name: str) -> Path:
    return base / data.classes[int(data.labels[i])].replace("/", "-") / name


def _write(base: Path, data, i: int, name: str, jpeg: bytes | None) -> Path:
    path = _path(base, data, i, name)
    if jpeg is None:
        Image.fromarray(data.images[i, 0].numpy()).save(path, compress_level=1)
    else:
        path.write_bytes(jpeg)
    return path


def load_side(folder: Path):
    from transferlab.data import load_dataset

    return load_dataset(str(folder), "train"), load_dataset(str(folder), "test")


def measure(root: Path, pairs: list[tuple[str, str]]) -> None:
    clean_train, clean_test = load_side(root / "clean")
    train, test = load_side(root / "planted")
    n_images = len(clean_train) + len(clean_test)
    index = {p: ("train", i) for i, p in enumerate(train.paths)}
    index.update({p: ("test", i) for i, p in enumerate(test.paths)})
    print(f"planted: {len(pairs)} pairs ({PLANT_TRAIN:.0%} of train copied into train, "
          f"{PLANT_LEAK:.0%} into test); clean folder: {n_images} images")
    for method in METHODS:
        hashes = {"train": image_hashes(train.images, method),
                  "test": image_hashes(test.images, method)}
        dist = np.array([int(np.bitwise_count(hashes[index[a][0]][index[a][1]]
                                              ^ hashes[index[b][0]][index[b][1]]))
                         for a, b in pairs])
        ha, hb = image_hashes(clean_train.images, method), image_hashes(clean_test.images, method)
        top = max(THRESHOLDS)
        found = np.concatenate([near_pairs(ha, None, top)[2], near_pairs(ha, hb, top)[2]])
        print(f"{method}: threshold  recall(planted)  clean pairs (% of images)")
        for t in THRESHOLDS:
            clean = int((found <= t).sum())
            print(f"{method}: {t:9d}  {(dist <= t).mean():15.3f}  {clean:11d} "
                  f"({100 * clean / n_images:.1f}%)")


def timed_check(folder: Path, cache: Path) -> float:
    env = {**os.environ, "TRANSFERLAB_CACHE": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "transferlab", "check", "--data", str(folder)],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"check failed: {proc.stderr.strip()}")
    print(proc.stdout.strip().splitlines()[-1])
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="/tmp/check-bench", help="folder for the image folders")
    p.add_argument("--n", type=int, default=60000, help="train images (test: n/6)")
    p.add_argument("--quick", action="store_true", help="3,000 train images")
    args = p.parse_args()
    n = 3000 if args.quick else args.n
    root = Path(args.out) / f"n{n}"
    t0 = time.perf_counter()
    pairs = write_folders(root, n)
    print(f"folders under {root} ({time.perf_counter() - t0:.0f} s)")
    with tempfile.TemporaryDirectory() as cache:
        cold = timed_check(root / "planted", Path(cache))
        warm = timed_check(root / "planted", Path(cache))
    print(f"transferlab check on {n} + {max(n // 6, 50)} images (+ planted copies), "
          f"one process each: cold {cold:.1f} s (scan + decode + check), warm {warm:.1f} s "
          "(decode cache hit)")
    measure(root, pairs)


if __name__ == "__main__":
    main()
