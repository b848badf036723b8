"""The fitted temperature travels with the model: saved, loaded, predicted with and exported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from transferlab.deploy.export import export_model, pseudo_images
from transferlab.deploy.predict import predict_files
from transferlab.deploy.serving import ExportedPredictor
from transferlab.model import build_model, load_model
from transferlab.model.transfer import ModelInfo
from transferlab.results.calibration import softmax

CLASSES = ["cat", "dog", "bird"]
T = 2.5


@pytest.fixture(scope="module")
def scaled_run(tmp_path_factory) -> Path:
    """A random-init EfficientNet-Lite0 at 64 px with T = 2.5, saved as a run folder."""
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", CLASSES, pretrained=False)
    model.info.image_size = 64
    model.info.temperature = T
    root = tmp_path_factory.mktemp("run")
    model.save(root / "model.safetensors")
    (root / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    return root


def _raw(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.head(model.backbone(x))


def test_forward_divides_by_the_saved_temperature(scaled_run):
    model = load_model(scaled_run)
    assert model.info.temperature == T
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
    assert torch.allclose(out * T, _raw(model, x), atol=1e-5)
    assert torch.equal(out.argmax(-1), _raw(model, x).argmax(-1))  # accuracy unchanged


def test_a_model_saved_before_calibration_loads_with_t_1(scaled_run, tmp_path):
    path = scaled_run / "model.safetensors"
    from transferlab.model import read_metadata

    info = json.loads(read_metadata(path)["transferlab"])
    del info["temperature"]  # what a model file written before this change holds
    save_file(load_file(str(path)), str(tmp_path / "old.safetensors"),
              metadata={"transferlab": json.dumps(info)})
    old = load_model(tmp_path / "old.safetensors")
    assert old.info.temperature == 1.0
    assert ModelInfo.from_json(json.dumps(info)).temperature == 1.0


def test_predict_probabilities_are_softmax_of_logits_over_t(scaled_run, tmp_path):
    model = load_model(scaled_run)
    files = []
    for i, a in enumerate(pseudo_images(2, 70, seed=5)):
        files.append(str(tmp_path / f"img_{i}.png"))
        Image.fromarray(a).save(files[-1])
    rows = predict_files(model, files, 3, torch.device("cpu"))
    from transferlab.data.files import decode_image
    from transferlab.data.transforms import Preprocess, eval_batch

    images = torch.stack([torch.from_numpy(np.array(decode_image(f, model.info.decode_size)))
                          .permute(2, 0, 1) for f in files])
    x = eval_batch(images, Preprocess.from_spec(model.spec, 64))
    expected = softmax(_raw(model, x).numpy() / T)
    for row, p in zip(rows, expected):
        top = row["top"][0]
        assert top["prob"] == pytest.approx(float(p.max()), abs=1e-5)
        assert top["label"] == CLASSES[int(p.argmax())]


@pytest.mark.slow
def test_onnx_export_and_serving_apply_t_with_parity(scaled_run, tmp_path):
    pytest.importorskip("onnxruntime")
    res = export_model(scaled_run, "onnx", tmp_path)
    assert res.max_abs_diff < 1e-3
    side = json.loads(res.sidecar_path.read_text())
    assert side["calibration"]["temperature"] == T and side["calibration"]["applied_in_graph"]
    model = load_model(scaled_run)
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    served = ExportedPredictor.load(res.model_path).logits(x.numpy())
    assert np.abs(served * T - _raw(model, x).numpy()).max() < 1e-3  # T is in the graph


def test_safetensors_export_keeps_t(scaled_run, tmp_path):
    res = export_model(scaled_run, "safetensors", tmp_path)
    assert res.max_abs_diff < 1e-3
    assert load_model(res.model_path).info.temperature == T
