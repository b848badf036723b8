"""Data-health check: recall on planted near-duplicates, false pairs on a clean folder, speed.

Writes Fashion-MNIST (Debian's IDX files) as PNG image folders under --out, train + test:

  clean/    the first --n train and n/6 test images, nothing added
  planted/  the same, plus 5% of train copied back into train and 2% of train copied into
            test (leaks), each copy perturbed: shifted 1-2 px (edges filled black), resized to
            22-56 px, saved as JPEG quality 70-90 (the loader decodes it back to 28 px)

For the near-copy search `transferlab check` uses (data/nearcopy.py: K-nearest thumbnail
shortlist, then the best shifted correlation) it prints, per similarity cut-off, the recall on
the planted pairs (found inside train, or train→test; goal >= 0.95) and the pairs found in the
clean folder (goal <= 1% of images: Fashion-MNIST has genuinely near-identical items, and every
pair found there is counted as false), and the seconds of each step on the planted folder. The
same for the baseline, a 64-bit pHash (bench/phash_baseline.py), per Hamming threshold. Then
`transferlab check` end to end in a fresh process, cold (empty decode cache: scan + decode +
check) and warm (decode cache hit: the check alone).

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

from transferlab.data import nearcopy
from transferlab.data.idx import DEBIAN_FASHION_MNIST, load_idx

sys.path.insert(0, str(Path(__file__).parent))
from phash_baseline import pair_distances, phash  # noqa: E402

THRESHOLDS = (0, 2, 4, 6, 8, 10, 12)
CUTOFFS = (0.99, 0.995, 0.996, 0.997, 0.9975, 0.998, 0.9982, 0.9985, 0.9988)
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


def planted_index(pairs: list[tuple[str, str]], train, test) -> tuple[set, set]:
    """The planted pairs as row numbers: (i, j) i < j inside train, (i, j) train → test."""
    index = {p: ("train", i) for i, p in enumerate(train.paths)}
    index.update({p: ("test", i) for i, p in enumerate(test.paths)})
    inside, leaks = set(), set()
    for a, b in pairs:
        (_, i), (side, j) = index[a], index[b]
        if side == "train":
            inside.add((min(i, j), max(i, j)))
        else:
            leaks.add((i, j))
    return inside, leaks


def candidates(train, test) -> tuple[dict, tuple, dict]:
    """Every shortlisted pair with its similarity (cut-off -1), and the seconds per step."""
    t0 = time.perf_counter()
    pa, pb = nearcopy.prepare(train.images), nearcopy.prepare(test.images)
    t1 = time.perf_counter()
    inside = nearcopy.candidates(pa[1], None)
    j, i = nearcopy.candidates(pb[1], pa[1])
    t2 = time.perf_counter()
    s_in = nearcopy.similarity(pa[0], pa[0], *inside)
    s_leak = nearcopy.similarity(pa[0], pb[0], i, j)
    t3 = time.perf_counter()
    found = {"inside": (*inside, s_in), "leak": (i, j, s_leak)}
    return found, (t1 - t0, t2 - t1, t3 - t2), {"pairs": len(s_in) + len(s_leak)}


def measure_nearcopy(train, test, clean_train, clean_test, planted: tuple[set, set],
                     n_images: int) -> None:
    found, (prep, short, verify), info = candidates(train, test)
    clean, _, _ = candidates(clean_train, clean_test)
    hits = np.concatenate([
        np.array([(int(i), int(j)) in planted[0] for i, j in zip(*found["inside"][:2])], bool),
        np.array([(int(i), int(j)) in planted[1] for i, j in zip(*found["leak"][:2])], bool)])
    sims = np.concatenate([found["inside"][2], found["leak"][2]])
    clean_sims = np.concatenate([clean["inside"][2], clean["leak"][2]])
    total = len(planted[0]) + len(planted[1])
    print(f"nearcopy: shortlist K={nearcopy.K} holds {hits.sum() / total:.3f} of the planted "
          f"pairs ({info['pairs']} candidates)")
    print("nearcopy: similarity  recall(planted)  clean pairs (% of images)")
    for cut in CUTOFFS:
        n_clean = int((clean_sims >= cut).sum())
        mark = "  <- default" if cut == nearcopy.MIN_SIMILARITY else ""
        print(f"nearcopy: {cut:10.4f}  {(hits & (sims >= cut)).sum() / total:15.3f}  "
              f"{n_clean:11d} ({100 * n_clean / n_images:.2f}%){mark}")
    print(f"nearcopy: seconds on the planted folder ({len(train)} + {len(test)} decoded "
          f"images): prepare {prep:.1f}, shortlist {short:.1f}, verify {verify:.1f}, "
          f"total {prep + short + verify:.1f}")


def measure_phash(train, test, clean_train, clean_test, planted: tuple[set, set],
                  n_images: int) -> None:
    t0 = time.perf_counter()
    ha, hb = phash(train.images), phash(test.images)
    t1 = time.perf_counter()
    top = max(THRESHOLDS)
    pair_distances(ha, None, top)
    pair_distances(ha, hb, top)
    t2 = time.perf_counter()
    dist = np.array([np.bitwise_count(ha[i] ^ ha[j]) for i, j in planted[0]]
                    + [np.bitwise_count(ha[i] ^ hb[j]) for i, j in planted[1]])
    ca, cb = phash(clean_train.images), phash(clean_test.images)
    clean = np.concatenate([pair_distances(ca, None, top), pair_distances(ca, cb, top)])
    print("phash (baseline): threshold  recall(planted)  clean pairs (% of images)")
    for t in THRESHOLDS:
        n_clean = int((clean <= t).sum())
        print(f"phash (baseline): {t:9d}  {(dist <= t).mean():15.3f}  {n_clean:11d} "
              f"({100 * n_clean / n_images:.1f}%)")
    print(f"phash (baseline): seconds on the planted folder: hashing {t1 - t0:.1f}, "
          f"search {t2 - t1:.1f}")


def measure(root: Path, pairs: list[tuple[str, str]]) -> None:
    t0 = time.perf_counter()
    clean_train, clean_test = load_side(root / "clean")
    train, test = load_side(root / "planted")
    print(f"decode (loading both folders in this process): {time.perf_counter() - t0:.1f} s")
    n_images = len(clean_train) + len(clean_test)
    planted = planted_index(pairs, train, test)
    print(f"planted: {len(pairs)} pairs ({PLANT_TRAIN:.0%} of train copied into train, "
          f"{PLANT_LEAK:.0%} into test); clean folder: {n_images} images")
    measure_nearcopy(train, test, clean_train, clean_test, planted, n_images)
    measure_phash(train, test, clean_train, clean_test, planted, n_images)


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
