"""A model file its runtime cannot open (truncated, or another format under the right suffix) is
one line naming the file and the fix, exit 2, from `predict` and from serving."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.conftest import write_folder
from tests.hostile.clihelp import cli, one_line_error
from transferlab.deploy.serving import ExportedPredictor
from transferlab.errors import CheckpointError

SIDECAR = {"task": "classification", "labels": ["a", "b"],
           "preprocessing": {"size": 16, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(200)


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


def write_model(folder: Path, name: str, content: bytes | None = None,
                truncate: bool = False) -> Path:
    """A real ONNX / TorchScript file of a tiny net (cut in half if `truncate`), or `content`
    under the model's name; with the sidecar JSON an export writes next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if content is None:
        x = torch.zeros(1, 3, 16, 16)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if path.suffix == ".onnx":
                torch.onnx.export(tiny_net(), (x,), str(path), dynamo=False, opset_version=17,
                                  input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            else:
                torch.jit.save(torch.jit.trace(tiny_net(), x), str(path))
        content = path.read_bytes()
        if truncate:
            content = content[: len(content) // 2]
    path.write_bytes(content)
    (folder / f"{name}.json").write_text(json.dumps(SIDECAR))
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("deploy") / "imgs", classes=1, per_class=2)


def test_intact_tiny_exports_predict(tmp_path, images):
    """The control: the same files uncut do run, so the failures below are the damage."""
    for name in ("model.onnx", "model.pt"):
        rows = ExportedPredictor.load(write_model(tmp_path / name, name)).predict([images])
        assert len(rows) == 2 and all("top" in r for r in rows)


@pytest.mark.parametrize(("name", "kind", "fmt", "content", "truncate"), [
    ("model.onnx", "ONNX", "onnx", None, True),
    ("model.onnx", "ONNX", "onnx", PNG_BYTES, False),
    ("model.onnx", "ONNX", "onnx", b"", False),
    ("model.pt", "TorchScript", "torchscript", None, True),
    ("model.pt", "TorchScript", "torchscript", PNG_BYTES, False),
])
def test_serving_names_a_broken_model_file(tmp_path, name, kind, fmt, content, truncate):
    path = write_model(tmp_path, name, content, truncate)
    with pytest.raises(CheckpointError) as err:
        ExportedPredictor.load(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path} is not a valid {kind} model (truncated or another format")
    assert message.endswith(f"re-run `transferlab export RUN_DIR --format {fmt}`")


def test_predict_cli_on_truncated_onnx_is_one_line_exit_2(tmp_path, images):
    path = write_model(tmp_path, "model.onnx", truncate=True)
    line = one_line_error(cli("predict", path, images))
    assert line.startswith(f"error: {path} is not a valid ONNX model (truncated or another "
                           "format")
    assert "re-run `transferlab export" in line


def test_predict_cli_on_non_onnx_file_is_one_line_exit_2(tmp_path, images):
    path = write_model(tmp_path, "model.onnx", PNG_BYTES)
    line = one_line_error(cli("predict", path, images))
    assert line.startswith(f"error: {path} is not a valid ONNX model")


def test_predict_cli_on_broken_torchscript_is_one_line_exit_2(tmp_path, images):
    path = write_model(tmp_path, "model.pt", truncate=True)
    line = one_line_error(cli("predict", path, images))
    assert line.startswith(f"error: {path} is not a valid TorchScript model")
    assert line.endswith("re-run `transferlab export RUN_DIR --format torchscript`")


def test_predict_cli_on_truncated_safetensors_model_is_one_line_exit_2(tmp_path, images):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    line = one_line_error(cli("predict", run, images))
    assert line.startswith(f"error: {run / 'model.safetensors'} is not a valid safetensors "
                           "model (truncated or another format")
