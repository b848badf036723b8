"""Batch prediction on image files with a saved model; bad files become error rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from transferlab.data.files import IMAGE_SUFFIXES, decode_image
from transferlab.data.transforms import Preprocess
from transferlab.engine.loop import predict_logits
from transferlab.errors import DataError
from transferlab.model import TransferModel


def expand_inputs(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES))
        elif p.exists():
            files.append(p)
        else:
            raise DataError(f"{p} does not exist")
    return files


def predict_files(model: TransferModel, inputs: list[str], top_k: int,
                  device: torch.device, batch_size: int = 64) -> list[dict]:
    size = model.info.image_size
    rows: list[dict] = []
    good: list[tuple[int, np.ndarray]] = []
    for path in expand_inputs(inputs):
        try:
            good.append((len(rows), decode_image(path, max(size, 32))))
            rows.append({"path": str(path)})
        except Exception as exc:  # noqa: BLE001 - any decode failure is a per-row error
            rows.append({"path": str(path), "error": str(exc) or type(exc).__name__})
    if not good:
        return rows
    images = torch.from_numpy(np.stack([a for _, a in good])).permute(0, 3, 1, 2).contiguous()
    pre = Preprocess.from_spec(model.spec, size)
    logits = predict_logits(model.to(device), images, pre, device, batch_size)
    if model.info.task == "regression":
        for (i, _), v in zip(good, logits.squeeze(-1).tolist()):
            rows[i]["value"] = v
        return rows
    probs = logits.softmax(-1)
    k = min(top_k, probs.shape[-1])
    values, index = probs.topk(k, dim=-1)
    for (i, _), vs, ix in zip(good, values.tolist(), index.tolist()):
        rows[i]["top"] = [{"label": model.info.classes[j], "prob": v} for v, j in zip(vs, ix)]
    return rows
