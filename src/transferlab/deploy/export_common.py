"""What image and text exports share: errors, results, the common sidecar, the parity check
and the ONNX / TorchScript writers.

`export` (images) and `export_text` (texts) both import this module and never each other's
internals, so the imports run one way: `export.export_model` hands a text model to
`export_text`, which needs only what is here (and the serving code it checks exports with).
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from transferlab import __version__
from transferlab.deploy.serving_common import INSTALL_HINT
from transferlab.errors import ConfigError, TransferlabError
from transferlab.model import ModelInfo

OUTPUT_NAME = "logits"
ONNX_OPSET = 17  # legacy exporter
ONNX_DYNAMO_OPSET = 18  # the lowest torch.export's ONNX translation implements


class ExportError(TransferlabError):
    """An export could not be written, or it does not compute what the eager model computes."""


@dataclass
class ExportResult:
    """Where an export went and how closely it matches eager PyTorch."""

    format: str
    model_path: Path
    sidecar_path: Path
    max_abs_diff: float
    tolerance: float
    n_inputs: int
    extra_files: list[Path] = field(default_factory=list)  # a text model's tokenizer folder

    @property
    def files(self) -> list[Path]:
        return [self.model_path, self.sidecar_path, *self.extra_files]


def sidecar_common(info: ModelInfo, fmt: str, file_name: str, metrics: dict | None) -> dict:
    """What every sidecar says, image or text: labels, output, temperature, provenance."""
    n_out = 1 if info.task == "regression" else len(info.classes)
    return {
        "format": fmt, "file": file_name, "transferlab_version": __version__,
        "task": info.task, "modality": info.spec.modality, "labels": list(info.classes),
        "output": {"name": OUTPUT_NAME, "shape": ["batch", n_out],
                   "meaning": "scores already divided by the fitted temperature; softmax gives "
                   "calibrated class probabilities"
                   if info.task == "classification" else "regression value"},
        "calibration": {"temperature": info.temperature, "applied_in_graph": True,
                        "fitted_on": info.extra.get("temperature_fitted_on")}
        if info.task == "classification" else None,
        "weights": info.spec.to_dict(),
        "model": {"backbone": info.backbone, "head": info.head, "image_size": info.image_size,
                  "extra": info.extra},
        "metrics": metrics,
    }


def check_parity(got: np.ndarray, reference: np.ndarray, fmt: str, files: list[Path],
                 tolerance: float) -> float:
    """Max abs logit difference; above `tolerance` the export's files are removed and
    ExportError names the gap (files[0] is the model file)."""
    diff = float(np.abs(got - reference).max()) if got.shape == reference.shape else float("inf")
    if not np.isfinite(diff) or diff > tolerance:
        for path in files:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise ExportError(
            f"{fmt} export {files[0]} disagrees with eager PyTorch: max abs logit difference "
            f"{diff:.3g} > tolerance {tolerance:g} (output shape {got.shape} vs "
            f"{reference.shape}); the files were removed. Try another --format, or raise "
            "--tolerance if the gap is expected (e.g. reduced precision)")
    return diff


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_onnx(module: torch.nn.Module, args: tuple, path: Path,
               dynamic: dict[str, dict[int, str]]) -> None:
    """Legacy TorchScript-based exporter first (fast, no onnxscript), torch.export if it is gone.

    `dynamic` names the graph's inputs in `args` order and their dynamic axes by name
    ({"input_ids": {0: "batch", 1: "sequence"}, ...}); the output's batch axis is dynamic too.
    """
    try:
        import onnx  # noqa: F401 - torch.onnx needs it; fail early with the install hint
        import onnxruntime  # noqa: F401 - the parity check runs the export with it
    except ImportError as exc:
        raise ConfigError(f"ONNX export needs onnx and onnxruntime; {INSTALL_HINT}") from exc
    tmp = path.with_name(path.name + ".tmp")
    common = {"input_names": list(dynamic), "output_names": [OUTPUT_NAME]}
    errors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, args, str(tmp), dynamo=False,
                              dynamic_axes=dynamic | {OUTPUT_NAME: {0: "batch"}},
                              opset_version=ONNX_OPSET, **common)
        except Exception as exc:  # noqa: BLE001 - legacy exporter missing or failing: try dynamo
            errors.append(f"legacy exporter: {exc}")
            dims = {n: torch.export.Dim(n, min=1, max=4096)
                    for axes in dynamic.values() for n in axes.values()}
            shapes = tuple({i: dims[n] for i, n in axes.items()} for axes in dynamic.values())
            try:
                torch.onnx.export(module, args, str(tmp), dynamo=True, external_data=False,
                                  dynamic_shapes=shapes, verbose=False,
                                  opset_version=ONNX_DYNAMO_OPSET, **common)
            except Exception as exc2:  # noqa: BLE001 - report both failures together
                errors.append(f"torch.export exporter: {exc2}")
    if len(errors) == 2 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ExportError(f"ONNX export to {path} failed ({'; '.join(errors)}); try "
                          f"--format torchscript, or install onnxscript for the new exporter")
    tmp.replace(path)


def write_torchscript(model: torch.nn.Module, example: torch.Tensor | tuple,
                      path: Path) -> None:
    """Traced, not scripted: timm models trace cleanly and the graph has no Python control flow."""
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(model, example, check_trace=False)
        except Exception as exc:  # noqa: BLE001 - any tracing failure is an export failure
            raise ExportError(f"TorchScript trace for {path} failed ({exc}); try "
                              "--format onnx or safetensors") from exc
        torch.jit.save(traced, str(tmp))
    tmp.replace(path)
