"""`transferlab predict` for text models: texts from .csv / .txt files, one row per text.

A .csv gives one text per record (its `text` column when the header names one, else the first
column); a .txt gives one text per non-blank line. Each row is named `file:line`, so results and
bad inputs (empty text, bytes that are not UTF-8, unreadable files) point at their source.
Texts are truncated at the length the model was trained with (ModelInfo.extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from transferlab.data.text_files import TEXT_HEADERS, read_csv_rows, undecodable_reason
from transferlab.deploy.rows import fill_rows

if TYPE_CHECKING:
    import torch

    from transferlab.model import TransferModel

TEXT_INPUT_SUFFIXES = (".csv", ".txt")


def _csv_texts(path: Path) -> list[tuple[str, str | None, str | None]]:
    rows = read_csv_rows(path)
    col = 0
    if rows:
        cells = [c.strip().lower() for c in rows[0][1]]
        hit = next((i for i, c in enumerate(cells) if c in TEXT_HEADERS), None)
        if hit is not None:
            col, rows = hit, rows[1:]
    return [(f"{path}:{n}", row[col] if col < len(row) else "", None) for n, row in rows]


def _txt_texts(path: Path) -> list[tuple[str, str | None, str | None]]:
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    return [(f"{path}:{n}", line, None) for n, line in enumerate(text.splitlines(), start=1)
            if line.strip()]


def collect_texts(inputs: list[str]) -> list[tuple[str, str | None, str | None]]:
    """(name, text, error) for every text in the inputs; problems become per-row errors."""
    items: list[tuple[str, str | None, str | None]] = []
    for name in inputs:
        path = Path(name)
        if path.suffix.lower() not in TEXT_INPUT_SUFFIXES or not path.is_file():
            why = "not found" if not path.exists() else "text models read .csv or .txt files"
            items.append((name, None, why))
            continue
        try:
            items += _csv_texts(path) if path.suffix.lower() == ".csv" else _txt_texts(path)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is one error row
            items.append((name, None, str(exc) or type(exc).__name__))
    checked = []
    for where, text, error in items:
        if error is None and text is not None:
            error = undecodable_reason(text) or (None if text.strip() else "empty text")
        checked.append((where, text.strip() if text else text, error))
    return checked


def predict_texts(model: TransferModel, inputs: list[str], top_k: int, device: torch.device,
                  batch_size: int = 64) -> list[dict]:
    """Rows like `predict_files` (path, top or value, error) plus the text itself."""
    import torch

    from transferlab.data.text import TextSet
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.loop import predict_logits

    rows: list[dict] = []
    good: list[tuple[int, str]] = []
    for where, text, error in collect_texts(inputs):
        rows.append({"path": where} | ({"error": error} if error else {"text": text}))
        if not error:
            good.append((len(rows) - 1, text))
    if not good:
        return rows
    texts = TextSet([t for _, t in good], torch.zeros(len(good), dtype=torch.long), [],
                    "predict")
    texts.prepare_for(model)
    pre = Preprocess.from_spec(model.spec, model.info.image_size)
    logits = predict_logits(model.to(device), texts, pre, device, batch_size)
    return fill_rows(rows, [i for i, _ in good], logits, model, top_k)
