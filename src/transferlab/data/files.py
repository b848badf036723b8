"""Image folders (one sub-folder per class) and CSVs of `path,label`.

Every file is decoded once here. A file that cannot be used (zero bytes, truncated, corrupt, not an
image, unreadable) becomes a BadFile with its path and reason; the policy decides whether the run
goes on without it ("skip", the default) or stops listing every bad file ("error").
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from transferlab.data.dataset import BadFile, ImageSet
from transferlab.errors import DataError
from transferlab.imageio import resize_center_crop

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
BAD_FILE_POLICIES = ("skip", "error")


def decode_image(path: Path, size: int) -> np.ndarray:
    """RGB uint8 (size, size, 3): shorter side resized to `size`, then centre-cropped.

    Raises OSError/ValueError with a readable reason for anything that is not a whole image.
    """
    if path.stat().st_size == 0:
        raise ValueError("zero-byte file")
    with Image.open(path) as im:
        im.load()  # forces full decode: truncated files fail here, not later in training
        return np.asarray(resize_center_crop(im, size), dtype=np.uint8)


def _decode_all(items: list[tuple[Path, int, str]], size: int, desc: str,
                on_bad: str) -> tuple[list[np.ndarray], list[int], list[str], list[BadFile]]:
    arrays, labels, paths, bad = [], [], [], []
    for path, label, where in tqdm(items, desc=desc, unit="img", leave=False,
                                   disable=len(items) < 200):
        try:
            arrays.append(decode_image(path, size))
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, UnidentifiedImageError):
                reason = "not a readable image (corrupt or unknown format)"
            bad.append(BadFile(where, reason))
            continue
        labels.append(label)
        paths.append(str(path))
    _apply_policy(bad, on_bad)
    return arrays, labels, paths, bad


def _apply_policy(bad: list[BadFile], on_bad: str) -> None:
    if on_bad not in BAD_FILE_POLICIES:
        raise DataError(f"unknown bad-file policy {on_bad!r}; choose one of {BAD_FILE_POLICIES}")
    if bad and on_bad == "error":
        listing = "\n".join(f"  {b.path}: {b.reason}" for b in bad)
        raise DataError(
            f"{len(bad)} bad input file(s):\n{listing}\n"
            "Fix or remove them, or run with --on-bad-file skip to leave them out."
        )


def _to_set(arrays: list[np.ndarray], labels: Iterable, classes: list[str], source: str,
            paths: list[str], bad: list[BadFile]) -> ImageSet:
    if not arrays:
        raise DataError(f"{source}: no usable images ({len(bad)} bad files)")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    labels = list(labels)
    label_t = (torch.tensor(labels, dtype=torch.float32) if labels and isinstance(labels[0], float)
               else torch.tensor(labels, dtype=torch.int64))
    return ImageSet(images, label_t, classes, source, bad, paths)


def load_folder(root: str | Path, size: int = 224, on_bad: str = "skip") -> ImageSet:
    """root/CLASS/*.png → ImageSet; class order is the sorted folder names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(
            f"{root}: an image folder needs one sub-folder per class (at least 2), "
            f"found {len(class_dirs)}"
        )
    items = []
    for label, d in enumerate(class_dirs):
        for f in sorted(d.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                items.append((f, label, str(f)))
    if not items:
        raise DataError(f"{root}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    arrays, labels, paths, bad = _decode_all(items, size, f"decode {root.name}", on_bad)
    return _to_set(arrays, labels, [d.name for d in class_dirs], str(root), paths, bad)


def load_csv(path: str | Path, size: int = 224, on_bad: str = "skip",
             task: str = "classification") -> ImageSet:
    """A CSV of `path,label` rows (header optional); paths are relative to the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    rows = _read_rows(path)
    base = path.parent
    bad: list[BadFile] = []
    parsed: list[tuple[Path, str, str]] = []
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            bad.append(BadFile(where, "row needs two fields: path,label"))
            continue
        parsed.append((base / row[0].strip(), row[1].strip(), where))
    if task == "regression":
        classes: list[str] = []
        items = []
        for p, y, where in parsed:
            try:
                items.append((p, float(y), f"{where} {p}"))
            except ValueError:
                bad.append(BadFile(where, f"target {y!r} is not a number"))
    else:
        classes = sorted({y for _, y, _ in parsed})
        index = {c: i for i, c in enumerate(classes)}
        items = [(p, index[y], f"{where} {p}") for p, y, where in parsed]
    missing = [(p, y, w) for p, y, w in items if not p.is_file()]
    bad.extend(BadFile(w, "file not found") for _, _, w in missing)
    items = [it for it in items if it[0].is_file()]
    _apply_policy(bad, on_bad)
    arrays, labels, paths, more_bad = _decode_all(items, size, f"decode {path.name}", on_bad)
    return _to_set(arrays, labels, classes, str(path), paths, bad + more_bad)


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); save the CSV as UTF-8") from exc
    rows = [(i + 1, r) for i, r in enumerate(csv.reader(text.splitlines())) if any(r)]
    if rows and rows[0][1][:2] and rows[0][1][0].strip().lower() in ("path", "file", "filename",
                                                                       "image"):
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no rows; expected `path,label` lines")
    return rows
