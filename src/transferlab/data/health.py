"""Data health before training: duplicates, train↔test leakage, class balance, bad files.

Torch-free (numpy): it reads the labelled sets' already-decoded uint8 rows, their labels, paths
and the content digests the loader computed while scanning, so running it at the start of
every `fit`/`compare` costs the near-copy search only, never another decode.

- exact duplicates: the same file content (the scan's digest), or the same decoded pixels where
  there are no files (IDX); text: the same text after trimming whitespace;
- near-duplicates (data/nearcopy.py): each image's few most similar by thumbnail, kept when
  the best correlation over small shifts reaches `min_similarity`, exact pairs left out;
  inside train and between train and test (leakage: the model is judged on pictures it has
  seen). Look-alike products are not copies and are not reported;
- classes: counts, imbalance ratio (largest/smallest), classes too small to split;
- the originals' sizes and modes (as the loader recorded them) and the bad files, summarised.

Every finding keeps its full count and up to EXAMPLES example pairs (paths, or `train[i]` for
sets without files).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from transferlab.data.health_text import SMALL_CLASS, headline, report_lines
from transferlab.data.nearcopy import MIN_SIMILARITY, near_copies, prepare

METHOD = "thumbnail shortlist + shifted correlation"
EXAMPLES = 10


@dataclass
class Part:
    """One side of the check (train, or test): the rows of one or more labelled sets."""

    name: str
    sets: list
    labels: np.ndarray
    where: list[str]  # a path or `name[i]` per row
    keys: list[str] | None  # exact-duplicate key per row


def part(name: str, *sets) -> Part:
    """Rows of `sets` (ImageSet/TextSet, None skipped) as one side of the check."""
    sets = [s for s in sets if s is not None]
    labels = np.concatenate([np.asarray(s.labels) for s in sets]) if sets else np.empty(0)
    where: list[str] = []
    for s in sets:
        paths = getattr(s, "paths", None)
        where += list(paths) if paths is not None else [
            f"{name}[{len(where) + i}]" for i in range(len(s))]
    return Part(name, sets, labels, where, None)


def _exact_keys(parts: list[Part]) -> None:
    """File digests when every set has them, else a digest of the pixels (or the text)."""
    use_files = all(getattr(s, "digests", None) is not None for p in parts for s in p.sets)
    for p in parts:
        keys: list[str] = []
        for s in p.sets:
            if hasattr(s, "texts"):
                keys += [_digest(" ".join(t.split()).encode()) for t in s.texts]
            elif use_files:
                keys += list(s.digests)
            else:
                keys += _pixel_keys(s.images)
        p.keys = keys


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _pixel_keys(images, chunk: int = 2048) -> list[str]:
    keys = []
    for start in range(0, len(images), chunk):
        block = np.asarray(images[start:start + chunk])
        keys += [_digest(row.tobytes()) for row in block.reshape(len(block), -1)]
    return keys


@dataclass
class Finding:
    """A kind of problem: how many pairs, how many images, a few examples."""

    pairs: int = 0
    images: int = 0
    examples: list[list] = field(default_factory=list)  # [where_a, where_b, similarity]

    def to_dict(self) -> dict:
        return {"pairs": self.pairs, "images": self.images, "examples": self.examples}


def _finding(i: np.ndarray, j: np.ndarray, d: np.ndarray, a: Part, b: Part,
             count_side: str) -> Finding:
    """Pairs (i in a, j in b); `images` counts distinct rows of b (leakage: test images hit)
    or of both sides (within one set)."""
    if count_side == "b":
        images = len(np.unique(j))
    else:
        images = len(np.unique(np.concatenate([i, j])))
    order = np.lexsort((j, i, -d))[:EXAMPLES]  # the most similar first
    examples = [[a.where[i[k]], b.where[j[k]], round(float(d[k]), 4)] for k in order]
    return Finding(int(len(i)), images, examples)


def _exact_pairs(a: Part, b: Part | None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with equal keys: within `a` (each copy paired with its group's first) or a↔b."""
    first: dict[str, int] = {}
    if b is None:
        ii, jj = [], []
        for j, key in enumerate(a.keys):
            if key in first:
                ii.append(first[key])
                jj.append(j)
            else:
                first[key] = j
        return np.array(ii, dtype=np.int64), np.array(jj, dtype=np.int64)
    for i, key in enumerate(a.keys):
        first.setdefault(key, i)
    hits = [(first[key], j) for j, key in enumerate(b.keys) if key in first]
    ii, jj = (zip(*hits) if hits else ((), ()))
    return np.array(ii, dtype=np.int64), np.array(jj, dtype=np.int64)


def _prepared(p: Part) -> tuple[np.ndarray, np.ndarray]:
    blocks = [prepare(s.images) for s in p.sets]
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def _near(a: Part, b: Part | None, pa: tuple, pb: tuple | None,
          min_similarity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, j, d = near_copies(pa, pb, min_similarity=min_similarity)
    other = a if b is None else b
    keys_a, keys_b = np.array(a.keys), np.array(other.keys)
    keep = keys_a[i] != keys_b[j]  # exact duplicates are reported as such, not twice
    return i[keep], j[keep], d[keep]


def class_stats(p: Part) -> dict:
    """Counts per class, the largest/smallest ratio and the classes too small to split."""
    classes = list(p.sets[0].classes)
    counts = np.bincount(p.labels.astype(np.int64), minlength=len(classes)).tolist()
    present = [n for n in counts if n > 0]
    ratio = round(max(present) / min(present), 2) if present else None
    return {"counts": dict(zip(classes, counts)), "imbalance_ratio": ratio,
            "empty": [c for c, n in zip(classes, counts) if n == 0],
            "small": {c: n for c, n in zip(classes, counts) if 0 < n < SMALL_CLASS}}


def image_stats(p: Part) -> dict:
    """The originals as the loader recorded them (files), and the stored row shape."""
    first = p.sets[0]
    originals = getattr(first, "originals", None) or {}
    keep = ("files", "width", "height", "modes", "stored_size")
    out = {k: originals[k] for k in keep if k in originals}
    out["stored_shape"] = list(first.images.shape[1:])
    if not originals:  # IDX: the stored rows are the originals
        out["modes"] = {"L" if first.images.shape[1] == 1 else "RGB": len(p.labels)}
    return out


def bad_file_stats(parts: list[Part]) -> dict:
    bad = {(b.path, b.reason) for p in parts for s in p.sets for b in s.skipped}
    reasons = Counter(reason for _, reason in bad)
    return {"count": len(bad), "reasons": dict(reasons.most_common()),
            "examples": [[path, reason] for path, reason in sorted(bad)[:EXAMPLES]]}


@dataclass
class HealthReport:
    """What `transferlab check` prints and data.json's "health" keeps."""

    train_images: int
    test_images: int
    method: str | None
    min_similarity: float | None
    findings: dict[str, Finding]
    classes: dict | None = None
    images: dict | None = None
    bad_files: dict | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"train": self.train_images, "test": self.test_images,
                "near_duplicates": {"method": self.method,
                                    "min_similarity": self.min_similarity},
                "findings": {k: f.to_dict() for k, f in self.findings.items()},
                "classes": self.classes, "images": self.images, "bad_files": self.bad_files,
                "seconds": round(self.seconds, 2)}

    def headline(self) -> str:
        """One line for the training log: the problems found, or that none were."""
        return headline(self.to_dict())

    def table(self) -> str:
        return "\n".join(report_lines(self.to_dict()))

    def __str__(self) -> str:
        return self.table()


def check_parts(train: Part, test: Part | None,
                min_similarity: float = MIN_SIMILARITY) -> HealthReport:
    """The whole check on two sides (test may be None: train only)."""
    t0 = time.perf_counter()
    parts = [p for p in (train, test) if p is not None]
    _exact_keys(parts)
    i, j = _exact_pairs(train, None)
    findings = {"exact_train": _finding(i, j, np.ones(len(i), np.float32), train, train, "both")}
    if test is not None:
        i, j = _exact_pairs(train, test)
        findings["exact_leak"] = _finding(i, j, np.ones(len(i), np.float32), train, test, "b")
    images = all(hasattr(s, "images") for p in parts for s in p.sets)
    if images:
        pa = _prepared(train)
        findings["near_train"] = _finding(*_near(train, None, pa, None, min_similarity),
                                          train, train, "both")
        if test is not None:
            findings["near_leak"] = _finding(
                *_near(train, test, pa, _prepared(test), min_similarity), train, test, "b")
    regression = np.asarray(train.labels).dtype.kind == "f"
    return HealthReport(
        len(train.labels), len(test.labels) if test is not None else 0,
        METHOD if images else None, min_similarity if images else None, findings,
        None if regression else class_stats(train),
        image_stats(train) if images else None, bad_file_stats(parts),
        time.perf_counter() - t0)


def check_sets(train, test=None, val=None,
               min_similarity: float = MIN_SIMILARITY) -> HealthReport:
    """Check labelled sets: `train` (+ `val`, which the model also learns from) against `test`."""
    return check_parts(part("train", train, val), part("test", test) if test is not None
                       else None, min_similarity)


def check_splits(splits, log=print) -> HealthReport:
    """The check at the start of fit/compare: what trains (train + validation) against test.

    The near-copy search on the already-decoded rows only (Fashion-MNIST, 1,000 train + 10,000
    test: 8.7 s on the shared 2-core machine with other jobs running, mostly verifying each
    test image's nearest train images); one log line, the details in data.json's "health".
    """
    report = check_sets(splits.train, splits.test, splits.val)
    splits.health = report.to_dict()
    log(f"{report.headline()} (details: data.json \"health\", `transferlab check`)")
    return report
