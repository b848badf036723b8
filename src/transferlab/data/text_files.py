"""Text sources: a CSV of `text,label` and a folder of .txt files with one sub-folder per class.

A row or file that cannot be used (empty text, missing or unknown label, bytes that are not
UTF-8) becomes a BadFile named `path:line` with its reason, under the same `--on-bad-file`
policy as images: skipped and reported (default) or the run stops listing every one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from transferlab.data.dataset import BadFile
from transferlab.data.files import IMAGE_SUFFIXES, _apply_policy, target_problem
from transferlab.data.listing import (
    DELIMITERS,
    DataWarning,
    empty_class_reason,
    list_class_folders,
)
from transferlab.data.text import TextSet
from transferlab.data.text_rows import (  # noqa: F401 - re-exported: older imports
    TEXT_HEADERS,
    read_csv_rows,
    undecodable_reason,
)
from transferlab.errors import DataError

LABEL_HEADERS = ("label", "class", "category", "target", "y")
PATH_HEADERS = ("path", "file", "filename", "image")
SNIFF_BYTES = 1 << 16


def _header(row: list[str]) -> tuple[int, int] | None:
    """(text column, label column) if `row` is a header naming a text column, else None."""
    cells = [c.strip().lower() for c in row]
    text_col = next((i for i, c in enumerate(cells) if c in TEXT_HEADERS), None)
    if text_col is None:
        return None
    label_col = next((i for i, c in enumerate(cells) if c in LABEL_HEADERS),
                     1 if text_col == 0 else 0)
    return text_col, label_col


def is_text_csv(path: Path) -> bool:
    """A CSV of texts (header `text,...`, or first fields that are not image paths)."""
    rows = read_csv_rows(path, SNIFF_BYTES)
    if not rows:
        return False
    first = rows[0][1][0].strip().lower()
    if _header(rows[0][1]) is not None:
        return True
    if any(first.split(delim)[0] in PATH_HEADERS for delim in DELIMITERS):
        return False
    # `path;label` (spreadsheets in many locales) is one field to a comma reader: try the
    # first field of the other delimiters too, or every such CSV of images reads as texts
    looks_path = max(sum(_looks_like_path(r[0].split(delim)[0], path.parent) for _, r in rows)
                     for delim in DELIMITERS)
    return looks_path * 2 < len(rows)


def _looks_like_path(cell: str, base: Path) -> bool:
    cell = cell.strip()
    if Path(cell).suffix.lower() in IMAGE_SUFFIXES:
        return True
    return bool(cell) and " " not in cell and (base / cell).exists()


def _split_row(row: list[str], cols: tuple[int, int] | None) -> tuple[str, str | None]:
    """(text, label) of a record; an unquoted comma inside a 2-column text is tolerated."""
    if cols is None or cols == (0, 1):
        return (",".join(row[:-1]), row[-1]) if len(row) >= 2 else (row[0], None)
    if cols == (1, 0):
        return (",".join(row[1:]), row[0]) if len(row) >= 2 else ("", row[0])
    text_col, label_col = cols
    text = row[text_col] if text_col < len(row) else ""
    return text, (row[label_col] if label_col < len(row) else None)


def _row_problem(text: str, label: str | None) -> str | None:
    bad = undecodable_reason(text) or (undecodable_reason(label) if label else None)
    if bad:
        return bad
    if not text.strip():
        return "empty text"
    if label is None or not label.strip():
        return "missing label (rows are text,label)"
    return None


def _label_index(labels: list[str], task: str, classes: list[str] | None,
                 wheres: list[str], bad: list[BadFile]) -> tuple[list, list[str], list[int]]:
    """(targets, classes, kept row numbers): unknown classes and non-numbers become BadFiles."""
    if task == "regression":
        out, keep = [], []
        for i, (y, where) in enumerate(zip(labels, wheres)):
            problem = target_problem(y)
            if problem:
                bad.append(BadFile(where, problem))
                continue
            out.append(float(y))
            keep.append(i)
        return out, [], keep
    known = list(classes) if classes is not None else sorted(set(labels))
    index = {c: i for i, c in enumerate(known)}
    keep = [i for i, y in enumerate(labels) if y in index]
    for y, where in zip(labels, wheres):
        if y not in index:
            bad.append(BadFile(where, f"unknown label {y!r}; expected one of {known}"))
    return [index[labels[i]] for i in keep], known, keep


def _apply_text_policy(bad: list[BadFile], on_bad: str) -> None:
    _apply_policy([], on_bad)  # validates the policy name
    if bad and on_bad == "error":
        listing = "\n".join(f"  {b.path}: {b.reason}" for b in bad)
        raise DataError(f"{len(bad)} bad text row(s) or file(s):\n{listing}\nFix or remove "
                        "them, or run with --on-bad-file skip to leave them out.")


def _to_textset(texts: list[str], labels: list[str], wheres: list[str], bad: list[BadFile],
                source: str, task: str, classes: list[str] | None, on_bad: str,
                max_length: int | None, notes: list[BadFile] | None = None) -> TextSet:
    """`notes` (left-out empty class folders) are listed with the bad files but, like for
    images, do not stop an `--on-bad-file error` run: nothing in them needs fixing."""
    targets, known, keep = _label_index(labels, task, classes, wheres, bad)
    _apply_text_policy(bad, on_bad)
    if not keep:
        raise DataError(f"{source}: no usable texts ({len(bad)} bad rows)")
    dtype = torch.float32 if task == "regression" else torch.int64
    return TextSet([texts[i] for i in keep], torch.tensor(targets, dtype=dtype), known, source,
                   bad + (notes or []), [wheres[i] for i in keep], max_length)


def load_text_csv(path: str | Path, on_bad: str = "skip", task: str = "classification",
                  classes: list[str] | None = None, max_length: int | None = None) -> TextSet:
    """A CSV of `text,label` (header optional; `label,text` or more columns need a header)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    rows = read_csv_rows(path)
    cols = _header(rows[0][1]) if rows else None
    if cols is not None:
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no rows; expected `text,label` lines")
    texts, labels, wheres, bad = [], [], [], []
    for lineno, row in rows:
        text, label = _split_row(row, cols)
        problem = _row_problem(text, label)
        if problem:
            bad.append(BadFile(f"{path}:{lineno}", problem))
            continue
        texts.append(text.strip())
        labels.append(label.strip())
        wheres.append(f"{path}:{lineno}")
    return _to_textset(texts, labels, wheres, bad, str(path), task, classes, on_bad, max_length)


def _read_text_file(f: Path) -> tuple[str | None, BadFile | None]:
    try:
        raw = f.read_bytes()
    except OSError as exc:
        return None, BadFile(str(f), exc.strerror or str(exc))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        return None, BadFile(f"{f}:{line}", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
                             "re-save the file as UTF-8")
    if not text.strip():
        return None, BadFile(f"{f}:1", "empty text")
    return text.strip(), None


def is_text_folder(root: Path) -> bool:
    """Holds .txt files and no images (stops at the first image, so image folders cost little)."""
    found = False
    for f in root.rglob("*"):
        suffix = f.suffix.lower()
        if suffix in IMAGE_SUFFIXES and f.is_file():
            return False
        found = found or (suffix == ".txt" and f.is_file())
    return found


def load_text_folder(root: str | Path, on_bad: str = "skip", classes: list[str] | None = None,
                     max_length: int | None = None, allow_outside: bool = False) -> TextSet:
    """root/CLASS/*.txt → TextSet, one text per file; class order is the sorted folder names.

    Links out of `root` and broken links are bad files, never read (see transferlab.data.listing),
    unless `allow_outside`. A class folder without a usable .txt file is warned about and left
    out, as for images: a class with 0 texts would change macro metrics for nothing.
    """
    root = Path(root)
    listing = list_class_folders(root, {".txt"}, allow_outside)
    notes = []
    for name, refused in listing.empty.items():
        reason = empty_class_reason(refused, "text")
        warnings.warn(f"{root / name}: {reason}", DataWarning, stacklevel=2)
        notes.append(BadFile(str(root / name), reason))
    if len(listing.classes) < 2:
        empty = (f" (left out, no usable .txt files: {', '.join(listing.empty)})"
                 if listing.empty else "")
        raise DataError(f"{root}: a text folder needs one sub-folder per class (at least 2), "
                        f"found {len(listing.classes)}{empty}")
    texts, labels, wheres = [], [], []
    bad = [BadFile(r.where, r.reason) for r in listing.refused]
    for f, label in listing.items:
        text, problem = _read_text_file(f)
        if problem is not None:
            bad.append(problem)
            continue
        texts.append(text)
        labels.append(listing.classes[label])
        wheres.append(str(f))
    known = classes if classes is not None else listing.classes
    return _to_textset(texts, labels, wheres, bad, str(root), "classification", known, on_bad,
                       max_length, notes)


def is_text_source(path: Path) -> bool:
    """A CSV of texts or a folder of .txt files: what `load_dataset` hands to this module."""
    if path.is_dir():
        return is_text_folder(path)
    return path.suffix.lower() == ".csv" and path.is_file() and is_text_csv(path)


def load_text_split(path: Path, split: str, on_bad: str = "skip",
                    task: str = "classification", allow_outside: bool = False) -> TextSet | None:
    """Same split rules as images: DIR/train + DIR/test when both exist, else 'train' only."""
    if path.is_dir() and (path / "train").is_dir():
        sub = path / split
        return (load_text_folder(sub, on_bad, allow_outside=allow_outside) if sub.is_dir()
                else None)
    if split != "train":
        return None
    if path.is_dir():
        return load_text_folder(path, on_bad, allow_outside=allow_outside)
    return load_text_csv(path, on_bad, task)
