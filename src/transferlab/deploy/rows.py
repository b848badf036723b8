"""Prediction rows shared by image and text prediction: logits → top-k labels or a value."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transferlab.model import TransferModel


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
