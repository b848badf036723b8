"""Image folders (one sub-folder per class) and CSVs of `path,label`.

Every file is decoded once, by the one decode rule (transferlab.data.imageio), into the on-disk
decode cache (data/cache.py) at the size training uses, and read from there on later runs. A
file that cannot be used (zero bytes, truncated, corrupt, not an image, unreadable) becomes a
BadFile with its path and reason; the policy decides whether the run goes on without it
("skip", the default) or stops listing every bad file ("error").
"""

from __future__ import annotations

import math
import warnings
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
from transferlab.data.imageio import decode_file
from transferlab.data.listing import (
    DataWarning,
    empty_class_reason,
    list_class_folders,
    read_table,
    resolve_row,
)
from transferlab.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
BAD_FILE_POLICIES = ("skip", "error")


MAX_DECODE_SIZE = 224  # stored size cap when the size is chosen from the originals


def decode_image(path: Path, size: int) -> np.ndarray:
    """RGB uint8 (size, size, 3) by the one decode rule (transferlab.data.imageio.decode_file).

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
    digests: list[str] | None = None  # each row's file content digest (the scan's)


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
                   [str(items[i][0]) for i in entry.rows], bad, originals,
                   [infos[i].digest for i in entry.rows])


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
                    decoded.originals, decoded.digests)


def load_folder(root: str | Path, size: int | None = None, on_bad: str = "skip",
                max_size: int = MAX_DECODE_SIZE, allow_outside: bool = False) -> ImageSet:
    """root/CLASS/*.png → ImageSet; class order is the sorted folder names.

    `size=None` chooses the stored size from the originals (see `_decode_all`). Links that
    lead out of `root` are refused unless `allow_outside` (see transferlab.data.listing).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    classes, items, bad, notes = list_folder(root, allow_outside)
    _apply_policy(bad, on_bad)
    decoded = _decode_all(items, size, f"decode {root.name}", on_bad, max_size)
    return _to_set(decoded, classes, str(root), bad + notes)


def list_folder(root: Path, allow_outside: bool = False
                ) -> tuple[list[str], list[tuple[Path, int, str]], list[BadFile], list[BadFile]]:
    """(classes, items, refused files, empty class folders) of an image folder.

    Empty class folders are warned about and left out rather than becoming classes with 0
    images; they are returned as BadFile notes so data.json lists them, but they do not stop a
    `--on-bad-file error` run (nothing in them needs fixing for the run to be right).
    """
    # DIR/train and DIR/test are one dataset: links from a split into DIR (a shared pool of
    # images, a common way to make splits) stay inside the data the user named
    split_layout = root.name in ("train", "test") and (root.parent / "train").is_dir()
    data_root = root.parent if split_layout else root
    listing = list_class_folders(root, IMAGE_SUFFIXES, allow_outside, data_root)
    notes = []
    for name, refused in listing.empty.items():
        reason = empty_class_reason(refused)
        warnings.warn(f"{root / name}: {reason}", DataWarning, stacklevel=3)
        notes.append(BadFile(str(root / name), reason))
    if len(listing.classes) < 2:
        empty = (f" (left out, no usable images: {', '.join(listing.empty)})"
                 if listing.empty else "")
        raise DataError(
            f"{root}: an image folder needs one sub-folder of images per class (at least 2), "
            f"found {len(listing.classes)}{empty}"
        )
    items = [(f, label, str(f)) for f, label in listing.items]
    bad = [BadFile(r.where, r.reason) for r in listing.refused]
    return listing.classes, items, bad, notes


def load_csv(path: str | Path, size: int | None = None, on_bad: str = "skip",
             task: str = "classification", max_size: int = MAX_DECODE_SIZE,
             allow_outside: bool = False) -> ImageSet:
    """A CSV of `path,label` rows (header optional; `,`, `;` or tab separated).

    Paths resolve under the CSV's folder: absolute rows and rows that climb out of it (`..`,
    links) are bad rows with the reason, and are never opened, unless `allow_outside`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    classes, items, bad = csv_items(path, task, allow_outside)
    _apply_policy(bad, on_bad)
    decoded = _decode_all(items, size, f"decode {path.name}", on_bad, max_size)
    return _to_set(decoded, classes, str(path), bad)


def csv_items(path: Path, task: str, allow_outside: bool = False
              ) -> tuple[list[str], list[tuple[Path, object, str]], list[BadFile]]:
    """(classes, [(file, label or target, where)], bad rows) of a `path,label` CSV.

    Every row is judged on its own, in one line each: missing fields, a target that is not a
    finite number (NaN/inf would poison the loss), a path outside the CSV's folder, a file
    that is not there. Nothing is opened here.
    """
    bad: list[BadFile] = []
    parsed: list[tuple[Path, str, str]] = []
    for lineno, row in _read_rows(path):
        where = f"{path}:{lineno}"
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            bad.append(BadFile(where, "row needs two fields: path,label"))
            continue
        file, reason = resolve_row(row[0].strip(), path.parent, allow_outside)
        if reason is not None:
            bad.append(BadFile(f"{where} {file}", reason))
            continue
        parsed.append((file, row[1].strip(), where))
    if task != "regression":
        classes = sorted({y for _, y, _ in parsed})
        index = {c: i for i, c in enumerate(classes)}
        return classes, [(p, index[y], f"{where} {p}") for p, y, where in parsed], bad
    items = []
    for p, y, where in parsed:
        problem = target_problem(y)
        if problem:
            bad.append(BadFile(where, problem))
        else:
            items.append((p, float(y), f"{where} {p}"))
    return [], items, bad


def target_problem(value: str) -> str | None:
    """Why a regression target cannot be used (None when it can)."""
    try:
        number = float(value)
    except ValueError:
        hint = " (decimal comma? write 1.5, not 1,5)" if "," in value else ""
        return f"target {value!r} is not a number{hint}"
    if not math.isfinite(number):
        return f"target {value!r} is not a finite number; give a real value or remove the row"
    return None


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); save the CSV as UTF-8") from exc
    _, rows = read_table(text, path)  # `,`, or `;`/tab when the rows only split on those
    if rows and rows[0][1][:2] and rows[0][1][0].strip().lower() in ("path", "file", "filename",
                                                                       "image"):
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no rows; expected `path,label` lines")
    return rows
