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
import json
import shutil
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from transferlab import __version__
from transferlab.deploy.serving import INSTALL_HINT, ExportedPredictor, Preprocessing
from transferlab.errors import ConfigError, TransferlabError
from transferlab.model import ModelInfo, TransferModel, load_model
from transferlab.results.runfolder import RunFolder

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}
INPUT_NAME, OUTPUT_NAME = "input", "logits"
ONNX_OPSET = 17  # legacy exporter
ONNX_DYNAMO_OPSET = 18  # the lowest torch.export's ONNX translation implements
PARITY_IMAGES = 8


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


def preprocessing_for(info: ModelInfo) -> Preprocessing:
    """Serving-side description of the preprocessing the model was trained and evaluated with."""
    pre = Preprocessing.from_spec(info.spec, info.image_size)
    return replace(pre, stored_size=info.decode_size)


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


def _write_onnx(model: TransferModel, example: torch.Tensor, path: Path) -> None:
    write_onnx(model, (example,), path, {INPUT_NAME: {0: "batch"}})


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


def _write_torchscript(model: torch.nn.Module, example: torch.Tensor | tuple,
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


def _write_safetensors(model: TransferModel, example: torch.Tensor, path: Path) -> None:
    del example  # weights only: the architecture is rebuilt from the metadata on load
    model.save(path, metadata={"format": "transferlab-export"})


WRITERS = {"onnx": _write_onnx, "torchscript": _write_torchscript,
           "safetensors": _write_safetensors}
