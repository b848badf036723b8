"""Serve an exported model with PIL + numpy + onnxruntime (or torch.jit), and nothing else.

A deployed model should not drag in the training stack (timm, the engine, strategies) just to
classify a picture, so this module imports only the standard library, numpy and PIL at the top;
onnxruntime or torch are imported when a model of that kind is loaded. The preprocessing here is a
numpy mirror of `data.files.decode_image` + `data.transforms.eval_batch` (the export parity check
and the tests hold the two together), described by the JSON sidecar written next to every export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from transferlab.data.imageio import decode_file, prepare_image
from transferlab.data.listing import read_table, resolve_row, walk_images
from transferlab.data.preprocess import Preprocess
from transferlab.deploy.rows import decoded_inputs
from transferlab.deploy.serving_common import (  # noqa: F401 - INSTALL_HINT, softmax: re-exported
    INSTALL_HINT,
    MODEL_FORMATS,
    Predictor,
    load_torchscript,
    not_a_model,
    onnx_failure,
    onnx_session,
    read_sidecar,
    softmax,
)
from transferlab.errors import CheckpointError, ConfigError, DataError

# Same set as transferlab.data.files.IMAGE_SUFFIXES (a test keeps them equal); copied so that
# serving does not import the torch-based data package.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".ppm", ".pgm"})
RESIZE_RULE = ("decode to RGB by transferlab.data.imageio's rule (EXIF orientation applied, 16-bit "
               "scaled by 1/257, float [0, 1] scaled by 255, transparency composited onto "
               "white, CMYK converted); resize the shorter side to decode_size with bicubic "
               "resampling; centre-crop decode_size x decode_size; if decode_size != size, "
               "resize to size with `interpolation`; scale to [0, 1]; average to 1 channel if "
               "in_chans == 1; subtract mean and divide by std per channel; layout NCHW float32")
CSV_HEADER_NAMES = ("path", "file", "filename", "image")
DECODE_ERRORS = (OSError, ValueError, Image.DecompressionBombError)  # a bad file: an error row


@dataclass(frozen=True)
class Preprocessing(Preprocess):
    """What the exported graph expects: training's `Preprocess` (the same fields, by
    inheritance) plus the side the training images were stored at (ModelInfo.decode_size)."""

    stored_size: int | None = None

    @property
    def decode_size(self) -> int:
        """Decode as `predict_files` does: at the training images' stored size (older sidecars:
        at least 32 px), then resize to `size` as eval_batch does."""
        return self.stored_size or max(self.size, 32)

    def to_dict(self) -> dict:
        return {"size": self.size, "decode_size": self.decode_size, "mean": list(self.mean),
                "std": list(self.std), "in_chans": self.in_chans,
                "interpolation": self.interpolation, "channel_order": "RGB", "scale": 1 / 255,
                "resize": RESIZE_RULE}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        return cls(int(d["size"]), tuple(float(v) for v in d["mean"]),
                   tuple(float(v) for v in d["std"]), int(d.get("in_chans", 3)),
                   str(d.get("interpolation", "bilinear")),
                   int(d["decode_size"]) if d.get("decode_size") else None)

    def prepare(self, im: Image.Image) -> np.ndarray:
        """Opened image → uint8 (S, S, 3) by the one decode rule (transferlab.data.imageio), as in
        training: orientation, bit depth and transparency handled, shorter side to decode_size,
        centre crop."""
        return self._fit(prepare_image(im, self.decode_size))

    def _fit(self, array: np.ndarray) -> np.ndarray:
        if self.decode_size == self.size:
            return array
        # eval_batch's resize from the stored size to the model's, done by PIL
        mode = (Image.Resampling.BICUBIC if self.interpolation == "bicubic"
                else Image.Resampling.BILINEAR)
        return np.asarray(Image.fromarray(array).resize((self.size, self.size), mode),
                          dtype=np.uint8)

    def load(self, path: str | Path) -> np.ndarray:
        """Decode one file; raises ValueError with a readable reason for anything unusable."""
        return self._fit(decode_file(path, self.decode_size))

    def to_input(self, images: np.ndarray) -> np.ndarray:
        """uint8 (B, S, S, 3) → normalised float32 (B, C, S, S), the graph's input."""
        x = images.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0)
        if self.in_chans == 1:
            x = x.mean(axis=1, keepdims=True, dtype=np.float32)
        elif self.in_chans != 3:
            raise ConfigError(f"cannot feed RGB images to a {self.in_chans}-channel model")
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
        return np.ascontiguousarray((x - mean) / std, dtype=np.float32)


@dataclass(frozen=True)
class InputItem:
    """One row of a prediction: a path to decode, or an error found before decoding."""

    name: str
    path: Path | None
    error: str | None = None


def collect_inputs(inputs: Iterable[str | Path]) -> list[InputItem]:
    """Files, folders (recursive, image suffixes) and CSVs (first column = path) → rows.

    A path given on the command line that does not exist is a user typo and raises; a missing
    file listed inside a CSV becomes an error row so one stale line does not stop a batch.

    Unlike training data, prediction inputs are not confined to a folder: a CSV of paths is
    the user's own list of files to score, absolute paths included, and nothing read here goes
    into a model or a report. Relative CSV rows resolve under the CSV's folder; broken links and
    missing files are error rows (transferlab.data.listing), never silently dropped.
    """
    items: list[InputItem] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files, refused = walk_images(p, p.resolve(), IMAGE_SUFFIXES, allow_outside=True)
            found = [InputItem(str(f), f) for f in files]
            found += [InputItem(r.where, None, r.reason) for r in refused]
            items.extend(sorted(found, key=lambda it: it.name))
        elif p.is_file() and p.suffix.lower() == ".csv":
            items.extend(_csv_items(p))
        elif p.exists():
            items.append(InputItem(str(p), p))
        else:
            raise DataError(f"{p} does not exist; pass image files, folders or a CSV whose "
                            "first column is an image path")
    return items


def _csv_items(path: Path) -> list[InputItem]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); save the CSV as UTF-8") from exc
    _, rows = read_table(text, path)  # `,`, or `;`/tab when the rows only split on those
    if rows and rows[0][1][0].strip().lower() in CSV_HEADER_NAMES:
        rows = rows[1:]
    items = []
    for lineno, row in rows:
        cell = row[0].strip()
        if not cell:
            items.append(InputItem(f"{path}:{lineno}", None, "empty path in first column"))
            continue
        p, reason = resolve_row(cell, path.parent, allow_outside=True)
        items.append(InputItem(str(p), None if reason else p, reason))
    return items


def _onnx_runner(path: Path, device: str) -> Callable[[np.ndarray], np.ndarray]:
    session = onnx_session(path, device)
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(session.run(None, {name: x})[0], dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - e.g. a graph exported with a fixed batch
            raise onnx_failure(path, tuple(x.shape), exc) from exc

    return run


def _torch_runner(module, device: str) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    dev = torch.device("cpu" if device == "auto" else device)
    module = module.to(dev).eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x).to(dev)).float().cpu().numpy()

    return run


def _load_runner(path: Path, fmt: str, device: str) -> Callable[[np.ndarray], np.ndarray]:
    if fmt == "onnx":
        return _onnx_runner(path, device)
    if fmt == "torchscript":
        return _torch_runner(load_torchscript(path), device)
    from transferlab.model import load_model  # safetensors: the eager model, rebuilt offline

    return _torch_runner(load_model(path), device)


class ExportedPredictor(Predictor):
    """Top-k class names (or a regression value) for image files, from an exported model.

    `load` opens a text export (sidecar `modality: text`) as its sibling
    `serving_text.TextExportedPredictor`, which reads texts instead of images; both derive
    from `serving_common.Predictor`, and serving_text never imports this module."""

    def __init__(self, runner: Callable[[np.ndarray], np.ndarray], sidecar: dict,
                 path: Path) -> None:
        super().__init__(runner, sidecar, path)
        self.preprocessing = Preprocessing.from_dict(sidecar["preprocessing"])

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Predictor:
        """Open an .onnx / TorchScript .pt / .safetensors export (or a run folder) + sidecar."""
        path = Path(path)
        if path.is_dir():
            path = path / "model.safetensors"
        if not path.is_file():
            raise CheckpointError(f"no model at {path}; pass an exported .onnx/.pt/.safetensors "
                                  "file or a run folder")
        fmt = MODEL_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ConfigError(f"{path}: unknown model file type {path.suffix!r}; expected one of "
                              f"{', '.join(sorted(MODEL_FORMATS))}")
        sidecar = read_sidecar(path)
        if sidecar.get("modality") == "text":  # tokenizer in, same rows out
            from transferlab.deploy.serving_text import TextExportedPredictor

            return TextExportedPredictor.open(path, fmt, sidecar, device)
        if "preprocessing" not in sidecar:
            raise CheckpointError(f"sidecar of {path} has no 'preprocessing'; re-run "
                                  "`transferlab export`")
        return cls(_load_runner(path, fmt, device), sidecar, path)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Normalised float32 (B, C, S, S) → logits (B, N)."""
        return self.runner(np.ascontiguousarray(x, dtype=np.float32))

    def predict_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Already decoded uint8 (S, S, 3) arrays → logits."""
        return self.logits(self.preprocessing.to_input(np.stack(list(images))))

    def predict(self, inputs: Iterable[str | Path], top_k: int = 3,
                batch_size: int = 32) -> list[dict]:
        """Rows like `transferlab.deploy.predict.predict_files`: bad files become `error` rows."""
        rows: list[dict] = []
        pending: list[tuple[int, np.ndarray]] = []
        for decoded in decoded_inputs(collect_inputs(inputs), self.preprocessing.load, rows,
                                      lambda exc: str(exc) or type(exc).__name__, DECODE_ERRORS):
            pending.append(decoded)
            if len(pending) >= batch_size:
                self._fill(rows, pending, top_k)
                pending = []
        if pending:
            self._fill(rows, pending, top_k)
        return rows

    def _fill(self, rows: list[dict], pending: list[tuple[int, np.ndarray]], top_k: int) -> None:
        logits = self.predict_images([a for _, a in pending])
        self.fill_scores(rows, [i for i, _ in pending], logits, top_k)
