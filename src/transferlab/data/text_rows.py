"""Reading text rows without torch: CSV records and the UTF-8 check that training
(`data.text_files`) and exported-model serving (`deploy.serving_text`) share, so a deployed text
model reads a CSV exactly as `transferlab fit` did."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from transferlab.errors import DataError

TEXT_HEADERS = ("text", "sentence", "review", "content", "document")


def undecodable_reason(s: str) -> str | None:
    """The first undecodable byte (kept as a surrogate by `surrogateescape`), as a reason."""
    for col, ch in enumerate(s, start=1):
        if "\udc80" <= ch <= "\udcff":
            return (f"not valid UTF-8 (byte 0x{ord(ch) - 0xDC00:02x} at column {col}); "
                    "re-save the file as UTF-8")
    return None


def read_csv_rows(path: Path, limit: int | None = None) -> list[tuple[int, list[str]]]:
    """(first line number, fields) of each non-blank CSV record; bad bytes survive as
    surrogates so each row can be judged, and reported, on its own."""
    with path.open("rb") as f:
        raw = f.read() if limit is None else f.read(limit)
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(f.strip() for f in row):
                rows.append((start, row))
            start = reader.line_num + 1
            if limit is not None and len(rows) >= 50:
                break
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num + 1}: not a readable CSV ({exc}); "
                        "quote texts that contain commas or line breaks") from exc
    return rows
