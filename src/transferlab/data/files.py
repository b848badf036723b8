"""Image folders (one sub-folder per class) and CSVs of `path,label`.

Every file is decoded once, by the one decode rule (transferlab.imageio), into the on-disk decode
cache (data/cache.py) at the size training uses, and read from there on later runs. A file that
cannot be used (zero bytes, truncated, corrupt, not an image, unreadable) becomes a BadFile with its
path and reason; the policy decides whether the run goes on without it ("skip", the default) or
stops listing every bad file ("error").
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from transferlab.data.cache import (
    DiskImages,
    cached_decode,
    choose_size,
    originals_summary,
    scan_files,
)
from transferlab.data.dataset import BadFile, ImageSet
from transferlab.errors import DataError
from transferlab.imageio import decode_file

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
BAD_FILE_POLICIES = ("skip", "error")


MAX_DECODE_SIZE = 224  # stored size cap when the size is chosen from the originals


def decode_image(path: Path, size: int) -> np.ndarray:
    """RGB uint8 (size, size, 3) by the one decode rule (transferlab.imageio.decode_file).

    Raises OSError/ValueError with a readable reason for anything that is not a whole image.
    """
    return decode_file(path, size)


@dataclass
class Decoded:
    """The usable rows of a list of files: pixels, labels, paths; the bad files; the originals."""

    images: torch.Tensor | DiskImages
    labels: list
    paths: list[str]
    bad: list[BadFile]
    originals: dict


def _decode_all(items: list[tuple[Path, int, str]], size: int | None, desc: str, on_bad: str,
                max_size: int = MAX_DECODE_SIZE) -> Decoded:
    """Decode `items` (path, label, where) at `size` through the decode cache.

    `size=None` stores at the originals' median shorter side, at most `max_size` (their
    headers are read first; no pixels are decoded for that). A second call with the same files
    and size reads the cache and decodes nothing.
    """
    files = [p for p, _, _ in items]
    infos = scan_files(files, f"scan {desc.removeprefix('decode ')}")
    stored = size or choose_size(infos, max_size)
    entry, fresh = cached_decode(files, infos, stored, decode_image, desc)
    bad = [BadFile(items[i][2], reason) for i, reason in entry.bad]
    _apply_policy(bad, on_bad)
    rule = ("requested image size" if size else
            f"median shorter side of the originals, at most {max_size} px")
    originals = {**originals_summary(infos), "stored_size": stored, "stored_size_rule": rule,
                 "decode_cache": {"entry": entry.key, "decoded_now": fresh}}
    return Decoded(entry.images(), [items[i][1] for i in entry.rows],
                   [str(items[i][0]) for i in entry.rows], bad, originals)


def _apply_policy(bad: list[BadFile], on_bad: str) -> None:
    if on_bad not in BAD_FILE_POLICIES:
        raise DataError(f"unknown bad-file policy {on_bad!r}; choose one of {BAD_FILE_POLICIES}")
    if bad and on_bad == "error":
        listing = "\n".join(f"  {b.path}: {b.reason}" for b in bad)
        raise DataError(
            f"{len(bad)} bad input file(s):\n{listing}\n"
            "Fix or remove them, or run with --on-bad-file skip to leave them out."
        )


def _to_set(decoded: Decoded, classes: list[str], source: str,
            earlier_bad: list[BadFile] | None = None) -> ImageSet:
    bad = (earlier_bad or []) + decoded.bad
    if not decoded.labels:
        raise DataError(f"{source}: no usable images ({len(bad)} bad files)")
    labels = decoded.labels
    label_t = (torch.tensor(labels, dtype=torch.float32) if isinstance(labels[0], float)
               else torch.tensor(labels, dtype=torch.int64))
    return ImageSet(decoded.images, label_t, classes, source, bad, decoded.paths,
                    decoded.originals)


def load_folder(root: str | Path, size: int | None = 224, on_bad: str = "skip",
                max_size: int = MAX_DECODE_SIZE) -> ImageSet:
    """root/CLASS/*.png → ImageSet; class order is the sorted folder names.

    `size=None` chooses the stored size from the originals (see `_decode_all`).
    """
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
    decoded = _decode_all(items, size, f"decode {root.name}", on_bad, max_size)
    return _to_set(decoded, [d.name for d in class_dirs], str(root))


def load_csv(path: str | Path, size: int | None = 224, on_bad: str = "skip",
             task: str = "classification", max_size: int = MAX_DECODE_SIZE) -> ImageSet:
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
    decoded = _decode_all(items, size, f"decode {path.name}", on_bad, max_size)
    return _to_set(decoded, classes, str(path), bad)


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
