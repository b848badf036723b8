"""`transferlab predict` for text models: texts from .csv / .txt files, one row per text.

A .csv gives one text per record (its `text` column when the header names one, else the first
column); a .txt gives one text per non-blank line. Each row is named `file:line`, so results and
bad inputs (empty text, bytes that are not UTF-8, unreadable files) point at their source.
Texts are truncated at the length the model was trained with (ModelInfo.extra). The readers
live in the torch-free `serving_text`, which an exported text model is served with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transferlab.deploy.rows import fill_rows
from transferlab.deploy.serving_text import (  # noqa: F401 - one reader for eager and export
    TEXT_INPUT_SUFFIXES,
    collect_texts,
    text_rows,
)

if TYPE_CHECKING:
    import torch

    from transferlab.model import TransferModel


def predict_texts(model: TransferModel, inputs: list[str], top_k: int, device: torch.device,
                  batch_size: int = 64) -> list[dict]:
    """Rows like `predict_files` (path, top or value, error) plus the text itself."""
    import torch

    from transferlab.data.text import TextSet
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.loop import predict_logits

    rows, good = text_rows(inputs)
    if not good:
        return rows
    texts = TextSet([t for _, t in good], torch.zeros(len(good), dtype=torch.long), [],
                    "predict")
    texts.prepare_for(model)
    pre = Preprocess.from_spec(model.spec, model.info.image_size)
    logits = predict_logits(model.to(device), texts, pre, device, batch_size)
    return fill_rows(rows, [i for i, _ in good], logits, model, top_k)
