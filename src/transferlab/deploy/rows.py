"""Prediction rows shared by eager, exported and text prediction: one row per input (its path,
or why it could not be used), then logits → top-k labels or a value. Torch-free."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transferlab.model import TransferModel


def decoded_inputs(items: Iterable[Any], decode: Callable[[Path], Any], rows: list[dict],
                   reason: Callable[[Exception], str],
                   errors: tuple[type[Exception], ...] = (Exception,)) -> Iterator[tuple[int, Any]]:
    """Append a row per input item to `rows` and yield (row index, decoded input) for the usable
    ones as they are decoded, so callers can batch; an item listed with an error, or one whose
    decode raises one of `errors`, keeps an `error` row instead of stopping the batch."""
    for item in items:
        rows.append({"path": item.name})
        if item.error is not None or item.path is None:
            rows[-1]["error"] = item.error or "no path"
            continue
        try:
            decoded = decode(item.path)
        except errors as exc:
            rows[-1]["error"] = reason(exc)
            continue
        yield len(rows) - 1, decoded


def fill_rows(rows: list[dict], where: list[int], logits, model: TransferModel,
              top_k: int) -> list[dict]:
    """Write each logit row into `rows[where[k]]`: a value (regression) or top-k class names."""
    if model.info.task == "regression":
        for i, v in zip(where, logits.squeeze(-1).tolist()):
            rows[i]["value"] = v
        return rows
    probs = logits.softmax(-1)
    values, index = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    for i, vs, ix in zip(where, values.tolist(), index.tolist()):
        rows[i]["top"] = [{"label": model.info.classes[j], "prob": v} for v, j in zip(vs, ix)]
    return rows
