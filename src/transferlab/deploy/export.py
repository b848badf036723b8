"""Export a trained model to ONNX, TorchScript or safetensors, each with a JSON sidecar.

An exported file is only useful if whoever deploys it feeds it exactly what training fed the
network, so every export carries a sidecar with the labels, the preprocessing (size, mean/std,
interpolation, resize rule), the WeightsSpec and the run's test metrics. Every export is then
reloaded through `transferlab.deploy.serving` — the same code a deployment would run — and its
logits are compared with eager PyTorch on real inputs; an export that disagrees is removed,
not shipped.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from transferlab.deploy.export_common import (  # noqa: F401 - ONNX_*, OUTPUT_NAME: re-exported
    ONNX_DYNAMO_OPSET,
    ONNX_OPSET,
    OUTPUT_NAME,
    ExportError,
    ExportResult,
    check_parity,
    sidecar_common,
    write_json,
    write_onnx,
    write_torchscript,
)
from transferlab.deploy.serving import ExportedPredictor, Preprocessing
from transferlab.errors import ConfigError
from transferlab.model import ModelInfo, TransferModel, load_model
from transferlab.results.runfolder import RunFolder

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}
INPUT_NAME = "input"
PARITY_IMAGES = 8


def preprocessing_for(info: ModelInfo) -> Preprocessing:
    """Serving-side description of the preprocessing the model was trained and evaluated with."""
    pre = Preprocessing.from_spec(info.spec, info.image_size)
    return replace(pre, stored_size=info.decode_size)


def build_sidecar(info: ModelInfo, fmt: str, file_name: str,
                  metrics: dict | None = None) -> dict:
    """Everything a deployment needs besides the graph: labels, preprocessing, provenance."""
    pre = preprocessing_for(info)
    return sidecar_common(info, fmt, file_name, metrics) | {
        "input": {"name": INPUT_NAME, "shape": ["batch", pre.in_chans, pre.size, pre.size],
                  "dtype": "float32", "layout": "NCHW", "normalised": True},
        "preprocessing": pre.to_dict(),
    }


def read_test_metrics(run_dir: Path | None) -> dict | None:
    """The run's test metrics for the sidecar; None for a bare model file or an unfinished run."""
    return None if run_dir is None else RunFolder(run_dir).test_metrics(required=False)


def pseudo_images(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """Deterministic photo-like uint8 images (smooth colour fields + texture), varied shapes.

    Not square and not at the model's size, so the parity inputs go through the real resize and
    crop rather than a shortcut.
    """
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        h, w = size + 7 * i + 3, size + 19 * (n - i) + 1
        coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC),
                           dtype=np.float32)
        field += rng.normal(0, 20, field.shape)
        images.append(np.clip(field, 0, 255).astype(np.uint8))
    return images


def parity_batch(pre: Preprocessing, images: list[str | Path] | None = None) -> np.ndarray:
    """8 pseudo-images plus any given image files, through the serving preprocessing.

    Models with neither 1 nor 3 input channels cannot be fed from RGB files, so they are checked
    on seeded normalised noise instead.
    """
    if pre.in_chans not in (1, 3):
        if images:
            raise ExportError(f"a {pre.in_chans}-channel model cannot be checked on RGB image "
                              "files; export it without --image")
        rng = np.random.default_rng(0)
        return rng.standard_normal((PARITY_IMAGES, pre.in_chans, pre.size, pre.size),
                                   dtype=np.float32)
    arrays = [pre.prepare(Image.fromarray(a)) for a in pseudo_images(PARITY_IMAGES, pre.size)]
    for path in images or []:
        try:
            arrays.append(pre.load(path))
        except (OSError, ValueError) as exc:
            raise ExportError(f"parity image {path} cannot be read ({exc}); pass readable "
                              "images or none") from exc
    return pre.to_input(np.stack(arrays))


def _resolve(source: str | Path | TransferModel) -> tuple[TransferModel, Path | None]:
    if isinstance(source, TransferModel):
        model = copy.deepcopy(source).cpu().float().eval()
        return model, None
    path = Path(source)
    model = load_model(path).cpu().float().eval()
    return model, path if path.is_dir() else path.parent


def export_model(run_dir_or_model: str | Path | TransferModel, fmt: str,
                 out_dir: str | Path | None = None, *, images: list[str | Path] | None = None,
                 tolerance: float = 1e-3, name: str = "model",
                 metrics: dict | None = None,
                 texts: list[str] | None = None) -> ExportResult:
    """Write `<out_dir>/<name>.<ext>` + `<name>.<ext>.json` and check it against eager PyTorch.

    `out_dir` defaults to `RUN_DIR/export`. The check runs the export through
    `ExportedPredictor` on pseudo-images (and `images`, if given); above `tolerance` (max abs
    difference of the logits) the files are removed and ExportError names the gap. A text
    model (export_text.py) also gets its tokenizer folder, and is checked on built-in texts
    plus `texts`.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    model, run_dir = _resolve(run_dir_or_model)
    text = model.spec.modality == "text"
    if text and images:
        raise ConfigError("--image checks image models; a text model is checked on built-in "
                          "texts (and --text TEXT)")
    if out_dir is None:
        if run_dir is None:
            raise ConfigError("export_model(model, ...) needs out_dir when given a model object")
        out_dir = run_dir / "export"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{name}{FORMATS[fmt]}"
    sidecar_path = out / f"{model_path.name}.json"
    if metrics is None:
        metrics = read_test_metrics(run_dir)
    if text:
        from transferlab.deploy.export_text import export_text_model

        return export_text_model(model, fmt, model_path, sidecar_path, texts=texts,
                                 tolerance=tolerance, metrics=metrics)
    sidecar = build_sidecar(model.info, fmt, model_path.name, metrics)

    x = parity_batch(preprocessing_for(model.info), images)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    WRITERS[fmt](model, torch.from_numpy(x[:2]), model_path)
    write_json(sidecar_path, sidecar)
    got = ExportedPredictor.load(model_path).logits(x)
    diff = check_parity(got, reference, fmt, [model_path, sidecar_path], tolerance)
    sidecar["parity"] = {"max_abs_diff": diff, "tolerance": tolerance, "inputs": len(x),
                         "reference": "eager PyTorch, fp32, CPU",
                         "checked_with": "transferlab.deploy.serving.ExportedPredictor"}
    write_json(sidecar_path, sidecar)
    return ExportResult(fmt, model_path, sidecar_path, diff, tolerance, len(x))


def _write_onnx(model: TransferModel, example: torch.Tensor, path: Path) -> None:
    write_onnx(model, (example,), path, {INPUT_NAME: {0: "batch"}})


def _write_safetensors(model: TransferModel, example: torch.Tensor, path: Path) -> None:
    del example  # weights only: the architecture is rebuilt from the metadata on load
    model.save(path, metadata={"format": "transferlab-export"})


WRITERS = {"onnx": _write_onnx, "torchscript": write_torchscript,
           "safetensors": _write_safetensors}
