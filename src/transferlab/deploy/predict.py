"""Batch prediction on image files with a saved or exported model; bad files become error rows.

A run folder or model.safetensors runs eagerly with the training preprocessing; an exported
.onnx / TorchScript .pt runs through `transferlab.deploy.serving`, the code a deployment would use.
Heavy imports (torch, the engine) happen inside the functions that need them, so predicting from
an ONNX file does not load the training stack.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab.deploy.rows import decoded_inputs, fill_rows
from transferlab.deploy.serving import ExportedPredictor, InputItem, collect_inputs

if TYPE_CHECKING:
    import torch

    from transferlab.model import TransferModel

EXPORTED_SUFFIXES = (".onnx", ".pt", ".ts", ".torchscript")


def predict_files(model: TransferModel, inputs: list[str], top_k: int,
                  device: torch.device, batch_size: int = 64) -> list[dict]:
    """Eager prediction with the exact training-time decode + eval_batch preprocessing."""
    if model.spec.modality == "text":  # texts from .csv/.txt files instead
        from transferlab.deploy.predict_text import predict_texts

        return predict_texts(model, inputs, top_k, device, batch_size)
    import numpy as np
    import torch

    from transferlab.data.dataset import ImageSet
    from transferlab.data.files import decode_image
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.loop import predict_logits

    size = model.info.image_size
    rows: list[dict] = []
    good = list(decoded_inputs(collect_inputs(inputs),
                               lambda path: decode_image(path, model.info.decode_size), rows,
                               _reason))  # any decode failure is a per-row error
    if not good:
        return rows
    images = torch.from_numpy(np.stack([a for _, a in good])).permute(0, 3, 1, 2).contiguous()
    pre = Preprocess.from_spec(model.spec, size)
    unlabelled = ImageSet(images, torch.zeros(len(images), dtype=torch.long), [], "predict")
    logits = predict_logits(model.to(device), unlabelled, pre, device, batch_size)
    return fill_rows(rows, [i for i, _ in good], logits, model, top_k)


def _reason(exc: Exception) -> str:
    """A row's error text: decode_image already words an unreadable file (imageio.UNREADABLE)."""
    return str(exc) or type(exc).__name__


def predict_path(model_path: str | Path, inputs: list[str], top_k: int = 3,
                 device: str = "auto", batch_size: int = 64) -> list[dict]:
    """Predict with whatever MODEL names: a run folder, a model.safetensors, or an export."""
    path = Path(model_path)
    if path.suffix.lower() in EXPORTED_SUFFIXES:
        dev = "cpu" if device == "auto" else device
        return ExportedPredictor.load(path, device=dev).predict(inputs, top_k, batch_size)
    from transferlab.engine.device import resolve_device
    from transferlab.model import load_model

    return predict_files(load_model(path), inputs, top_k, resolve_device(device), batch_size)


def format_rows(rows: list[dict], fmt: str = "text") -> str:
    """text (tab-separated, human), json (one object per line) or csv (one row per input)."""
    if fmt == "json":
        return "".join(json.dumps(row) + "\n" for row in rows)
    if fmt == "csv":
        return _csv_text(rows)
    lines = []
    for row in rows:
        if "error" in row:
            lines.append(f"{row['path']}\tERROR: {row['error']}")
        elif "value" in row:
            lines.append(f"{row['path']}\t{row['value']:.6g}")
        else:
            top = ", ".join(f"{p['label']} {p['prob']:.3f}" for p in row["top"])
            lines.append(f"{row['path']}\t{top}")
    return "".join(line + "\n" for line in lines)


def _csv_text(rows: list[dict]) -> str:
    k = max((len(r.get("top", [])) for r in rows), default=0)
    regression = any("value" in r for r in rows)
    header = ["path"] + (["value"] if regression else [])
    for j in range(1, k + 1):
        header += [f"label{j}", f"prob{j}"]
    header.append("error")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        line = [row["path"]] + ([row.get("value", "")] if regression else [])
        top = row.get("top", [])
        for j in range(k):
            line += [top[j]["label"], f"{top[j]['prob']:.6f}"] if j < len(top) else ["", ""]
        line.append(row.get("error", ""))
        writer.writerow(line)
    return buf.getvalue()


def count_errors(rows: Iterable[dict]) -> int:
    """Rows that could not be predicted; `transferlab predict` exits non-zero when any."""
    return sum("error" in r for r in rows)


__all__ = ["InputItem", "collect_inputs", "count_errors", "format_rows", "predict_files",
           "predict_path"]
