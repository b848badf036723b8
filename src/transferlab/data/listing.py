"""Which files a data source names, and which of them may be read.

A CSV row or a symbolic link in an image folder can point anywhere on the machine (`../x.png`,
`/etc/hostname`, a link out of the folder). Training on such a file silently mixes in data the
user never meant to hand over, and opening it at all can leak it (into a model, a report, an
error message), so every path is resolved, links included, and must stay under the data root.
Anything else becomes a `Refused` row that the caller lists as a bad file, decided before any
file is opened. `--allow-outside-paths` lifts the rule for users who keep their data elsewhere.

Torch-free: the exported-model predictor (`transferlab.deploy.serving`) lists its inputs with
it too.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from transferlab.errors import DataError

DELIMITERS = (",", ";", "\t")
ALLOW_HINT = "move the file under it or pass --allow-outside-paths"


class DataWarning(UserWarning):
    """A data problem the run survives: an empty class folder, a class too small to test on."""


def plain_data_warnings() -> None:
    """Print DataWarnings as `warning: MESSAGE`, the CLI's style, instead of Python's
    `file:line: DataWarning: ...` plus a source line; other warnings keep their format."""
    original = warnings.formatwarning

    def fmt(message: Warning | str, category: type[Warning], filename: str, lineno: int,
            line: str | None = None) -> str:
        if issubclass(category, DataWarning):
            return f"warning: {message}\n"
        return original(message, category, filename, lineno, line)

    warnings.formatwarning = fmt


@dataclass(frozen=True)
class Refused:
    """A path the listing will not read, and why (one line)."""

    where: str
    reason: str


def _inside(target: Path, root: Path) -> bool:
    return target == root or root in target.parents


def _resolve(path: Path) -> tuple[Path | None, str | None]:
    try:
        return path.resolve(), None  # reads links, opens nothing
    except (OSError, RuntimeError, ValueError) as exc:  # a link loop; ValueError: a NUL byte
        return None, f"cannot resolve the path ({exc})"


def vet_file(path: Path, root: Path, allow_outside: bool, root_label: str,
             kind: str = "symbolic link to", hint: str = ALLOW_HINT) -> str | None:
    """None when `path` may be read; otherwise why not. Never opens `path`.

    `root` must already be resolved; `kind` names how the path left it in the message
    ("symbolic link to", "absolute path", ...).
    """
    target, problem = _resolve(path)
    if target is None:
        return problem
    if not allow_outside and not _inside(target, root):
        return f"{kind} {target} is outside {root_label} {root}; {hint}"
    if not target.exists():
        if path.is_symlink():
            return f"broken symbolic link (its target {target} does not exist)"
        return "file not found"
    if not target.is_file():
        return "not a file"
    return None


def resolve_row(cell: str, base: Path, allow_outside: bool,
                hint: str = ALLOW_HINT) -> tuple[Path, str | None]:
    """A CSV cell → (path, None) to read, or (path, reason) when it must not be read.

    Relative cells resolve under the CSV's folder `base`; absolute cells and cells that climb
    out with `..` or through a link are refused unless `allow_outside`.
    """
    raw = Path(cell)
    path = raw if raw.is_absolute() else base / raw
    if raw.is_absolute():
        kind = "absolute path, resolving to"
    elif Path(os.path.normpath(cell)).parts[:1] == ("..",):  # not `..foo.png`, a plain name
        kind = f"path {cell!r} climbs out to"
    else:
        kind = "symbolic link to"
    root, problem = _resolve(base)
    if root is None:
        return path, problem
    return path, vet_file(path, root, allow_outside, "the CSV's folder", kind, hint)


def walk_images(top: Path, root: Path, suffixes: Iterable[str], allow_outside: bool,
                hint: str = ALLOW_HINT) -> tuple[list[Path], list[Refused]]:
    """Image files under `top` (sorted), and the ones refused: links out of the resolved `root`,
    broken links, links to folders (never followed: they could loop or lead anywhere)."""
    suffixes = frozenset(suffixes)
    found: list[Path] = []
    refused: list[Refused] = []
    for folder, dirs, files in os.walk(top, followlinks=False):
        here = Path(folder)
        for name in dirs:
            if (here / name).is_symlink():
                refused.append(Refused(str(here / name), "symbolic link to a folder: not "
                                       "followed; link the files themselves or copy the folder"))
        for name in files:
            path = here / name
            if path.suffix.lower() not in suffixes:
                continue
            reason = vet_file(path, root, allow_outside, "the data folder", hint=hint)
            if reason is None:
                found.append(path)
            else:
                refused.append(Refused(str(path), reason))
    return sorted(found), sorted(refused, key=lambda r: r.where)


@dataclass
class FolderListing:
    """One image folder: its classes, their files, what was refused and which folders were empty."""

    classes: list[str]
    items: list[tuple[Path, int]]
    refused: list[Refused]
    empty: dict[str, int]  # class folder left out → number of its files that were refused


def list_class_folders(root: Path, suffixes: Iterable[str], allow_outside: bool = False,
                       data_root: Path | None = None) -> FolderListing:
    """root/CLASS/**/*.png → classes (sorted names of folders with a usable image) and files.

    A class folder without one usable image is left out (an empty class would be a class with
    0 images, changing macro metrics for nothing); the caller warns about it. Links must stay
    inside `data_root` (default `root`).
    """
    real_root, problem = _resolve(data_root or root)
    if real_root is None:
        return FolderListing([], [], [Refused(str(root), problem or "")], {})
    classes: list[str] = []
    items: list[tuple[Path, int]] = []
    refused: list[Refused] = []
    empty: dict[str, int] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink() and not entry.exists():
            refused.append(Refused(str(entry), "broken symbolic link"))
            continue
        if not entry.is_dir():
            continue
        files, bad = walk_images(entry, real_root, suffixes, allow_outside)
        refused.extend(bad)
        if not files:
            empty[entry.name] = len(bad)
            continue
        items.extend((f, len(classes)) for f in files)
        classes.append(entry.name)
    return FolderListing(classes, items, refused, empty)


def empty_class_reason(refused: int, kind: str = "image") -> str:
    """Why a class folder was left out: it has no `kind` files, or all of them were refused."""
    why = (f"all {refused} of its {kind} files were refused (listed in data.json)" if refused
           else f"empty class folder (no {kind} files)")
    return f"{why}; left out, not a class with 0 {kind}s"


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the most lines into fields; `,` on a tie.

    Spreadsheets in many locales save `path;label` (and `1,5` for 1.5): read with commas, such
    a file is one column, and every row would be called a text or a row without a label.
    """
    sample = [ln for ln in lines if ln.strip()][:50]

    def splits(delim: str) -> int:
        return sum(_fields(ln, delim) >= 2 for ln in sample)

    if not sample:
        return ","
    scores = {delim: splits(delim) for delim in DELIMITERS}
    return max(DELIMITERS, key=lambda d: scores[d])  # ties keep the first: the comma


def _fields(line: str, delim: str) -> int:
    """How many fields `delim` splits one line into; 0 when the csv module refuses the line
    (read_table then reports it with its line number)."""
    try:
        return len(next(csv.reader([line], delimiter=delim)))
    except csv.Error:
        return 0


def read_table(text: str, source: str | Path = "CSV") -> tuple[str, list[tuple[int, list[str]]]]:
    """(delimiter, [(line number, fields)]) of the non-blank rows of a small CSV.

    A file the csv module cannot split (a field over its size limit, a stray quote) is a
    DataError naming `source` and the line, not a traceback.
    """
    lines = text.splitlines()
    delim = sniff_delimiter(lines)
    reader = csv.reader(lines, delimiter=delim)
    rows: list[tuple[int, list[str]]] = []
    start = 1  # a quoted field may span lines: a row is numbered by its first line
    try:
        for row in reader:
            if any(row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{source}:{start}: not a readable CSV ({exc}); fix that "
                        "line (quote paths that contain the delimiter or quotes)") from exc
    return delim, rows
