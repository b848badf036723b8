"""What image and text serving share: the sidecar, ONNX sessions, error lines and the score rows.

`serving` (images) and `serving_text` (texts) both build on this module and never on each other,
so the imports run one way: `serving.ExportedPredictor.load` reads the sidecar and hands a text
export to `serving_text`, which needs only what is here. Torch-free like both of them: numpy and
the standard library at the top, onnxruntime when an ONNX model is opened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from transferlab.errors import CheckpointError, ConfigError

MODEL_FORMATS = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript",
                 ".torchscript": "torchscript", ".safetensors": "safetensors"}
INSTALL_HINT = "pip install 'transferlab[export]'"


def read_sidecar(model_path: str | Path) -> dict:
    """The JSON written next to an export: `<file>.json`, else `<stem>.json`."""
    model_path = Path(model_path)
    for cand in (model_path.with_name(model_path.name + ".json"), model_path.with_suffix(".json")):
        if cand.is_file():
            try:
                return json.loads(cand.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise CheckpointError(f"{cand}: sidecar is not valid JSON ({exc}); re-run "
                                      "`transferlab export`") from exc
    raise CheckpointError(
        f"no sidecar JSON for {model_path} (looked for {model_path.name}.json and "
        f"{model_path.stem}.json); it holds the labels and preprocessing: re-run "
        "`transferlab export RUN_DIR` or copy the .json next to the model file")


def not_a_model(path: Path, kind: str, fmt: str, exc: Exception) -> str:
    """One line for a model file its runtime cannot open: what it is not, the runtime's first
    words on why, and the command that writes a good one."""
    detail = " ".join(str(exc).split())
    detail = detail[:120] + ("..." if len(detail) > 120 else "")
    return (f"{path} is not a valid {kind} model (truncated or another format: {detail}); "
            f"re-run `transferlab export RUN_DIR --format {fmt}`")


def onnx_session(path: Path, device: str):
    """An onnxruntime session on the CPU (CUDA first when asked for and available)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ConfigError(f"{path}: running ONNX models needs onnxruntime; {INSTALL_HINT}") from exc
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise CheckpointError(not_a_model(path, "ONNX", "onnx", exc)) from exc
    return session


def load_torchscript(path: Path):
    """A TorchScript export on the CPU (imports torch: TorchScript serving needs it); a file
    that is not one is a CheckpointError naming it."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # jit.load's deprecation notice: nothing to act on
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - zip, pickle and TorchScript errors alike
        raise CheckpointError(not_a_model(path, "TorchScript", "torchscript", exc)) from exc


def onnx_failure(path: Path, shape: tuple, exc: Exception) -> CheckpointError:
    """A graph that does not run on what its sidecar says it takes (e.g. a fixed batch)."""
    detail = " ".join(str(exc).split())[:160]
    return CheckpointError(f"{path} cannot run on input {shape} ({detail}); it does not match "
                           "its sidecar: re-run `transferlab export RUN_DIR --format onnx`")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis (numpy: serving has no torch)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Predictor:
    """An exported model and its sidecar: the labels, the task and how logits become rows.

    The image (`serving.ExportedPredictor`) and text (`serving_text.TextExportedPredictor`)
    predictors differ only in what they feed the graph; open either with
    `serving.ExportedPredictor.load`, which picks by the sidecar's `modality`."""

    def __init__(self, runner: Callable[[Any], np.ndarray], sidecar: dict, path: Path) -> None:
        self.runner = runner
        self.sidecar = sidecar
        self.path = path
        self.labels: list[str] = list(sidecar.get("labels", []))
        self.task: str = sidecar.get("task", "classification")

    def logits(self, x: Any) -> np.ndarray:
        """The graph's input (an image array or a token feed) → logits (B, N)."""
        return self.runner(x)

    def predict(self, inputs: Iterable[str | Path], top_k: int = 3,
                batch_size: int = 32) -> list[dict]:
        """One row per input: its path, then top-k labels + probs, a value, or an error."""
        raise NotImplementedError

    def fill_scores(self, rows: list[dict], where: list[int], logits: np.ndarray,
                    top_k: int) -> None:
        """Logit row k → `rows[where[k]]`: a value (regression) or the top-k labels + probs."""
        if self.task == "regression":
            for i, v in zip(where, logits.reshape(len(where), -1)[:, 0].tolist()):
                rows[i]["value"] = v
            return
        probs = softmax(logits)
        k = min(top_k, probs.shape[-1])
        order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
        for i, ix, p in zip(where, order, probs):
            rows[i]["top"] = [{"label": self.labels[j], "prob": float(p[j])} for j in ix]
