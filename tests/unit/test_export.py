"""Exports compute what the eager model computes, and serve without the training stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from transferlab.data.files import IMAGE_SUFFIXES, decode_image
from transferlab.data.transforms import Preprocess, eval_batch
from transferlab.deploy.export import ExportError, export_model, pseudo_images
from transferlab.deploy.predict import predict_files
from transferlab.deploy.serving import (
    IMAGE_SUFFIXES as SERVING_SUFFIXES,
)
from transferlab.deploy.serving import (
    ExportedPredictor,
    Preprocessing,
    collect_inputs,
)
from transferlab.errors import CheckpointError, ConfigError
from transferlab.model import build_model, load_model

pytest.importorskip("onnxruntime")

CLASSES = ["cat", "dog", "bird"]
TEST_METRICS = {"accuracy": 0.75, "macro_f1": 0.7}
TOL = 1e-3


def make_run(root: Path) -> Path:
    """A real (randomly initialised) EfficientNet-Lite0 transfer model at 64 px, saved as a run."""
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", CLASSES, pretrained=False)
    model.info.image_size = 64
    root.mkdir(parents=True, exist_ok=True)
    model.save(root / "model.safetensors")
    (root / "metrics.json").write_text(json.dumps({"test": TEST_METRICS}))
    return root


def write_images(folder: Path) -> list[Path]:
    """Two real PNGs of different shapes, a corrupt file and a zero-byte file."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = pseudo_images(2, 80, seed=3)
    paths = []
    for i, a in enumerate(arrays):
        paths.append(folder / f"img_{i}.png")
        Image.fromarray(a).save(paths[-1])
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (folder / "empty.jpg").write_bytes(b"")
    return paths + [folder / "corrupt.png", folder / "empty.jpg"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def onnx_export(run_dir):
    return export_model(run_dir, "onnx")


def test_serving_preprocessing_equals_training_preprocessing(tmp_path):
    """The numpy path a deployment runs must feed the net exactly what eval_batch fed it."""
    paths = write_images(tmp_path)[:2]
    for in_chans in (3, 1):
        mean, std = (0.485, 0.456, 0.406)[:in_chans], (0.229, 0.224, 0.225)[:in_chans]
        pre = Preprocess(64, mean, std, in_chans, "bilinear")
        serving = Preprocessing(64, mean, std, in_chans, "bilinear")
        decoded = [decode_image(p, 64) for p in paths]
        for p, ref in zip(paths, decoded):
            assert np.array_equal(serving.load(p), ref)
        images = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).contiguous()
        expected = eval_batch(images, pre).numpy()
        got = serving.to_input(np.stack(decoded))
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-6


def test_image_suffixes_stay_in_sync():
    assert set(SERVING_SUFFIXES) == set(IMAGE_SUFFIXES)


def test_onnx_export_matches_eager_and_writes_sidecar(run_dir, onnx_export):
    import onnx

    res = onnx_export
    print(f"onnx parity: max abs diff {res.max_abs_diff:.3g}")
    assert res.model_path == run_dir / "export" / "model.onnx"
    assert res.sidecar_path == run_dir / "export" / "model.onnx.json"
    assert res.max_abs_diff < TOL and res.n_inputs == 8
    side = json.loads(res.sidecar_path.read_text())
    assert side["labels"] == CLASSES and side["task"] == "classification"
    pre = side["preprocessing"]
    assert pre["size"] == 64 and pre["in_chans"] == 3
    assert pre["interpolation"] == side["weights"]["interpolation"] == "bicubic"
    assert pre["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert pre["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert "centre-crop" in pre["resize"]
    assert side["weights"]["architecture"] == "efficientnet_lite0"
    assert side["metrics"] == TEST_METRICS
    assert side["parity"]["max_abs_diff"] == pytest.approx(res.max_abs_diff)
    graph_input = onnx.load(str(res.model_path)).graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 64, 64]


def test_onnx_dynamic_batch_matches_eager(run_dir, onnx_export):
    model = load_model(run_dir)
    predictor = ExportedPredictor.load(onnx_export.model_path)
    for batch in (1, 5):
        x = torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(x).numpy()
        assert np.abs(predictor.logits(x.numpy()) - expected).max() < TOL


def test_onnx_predictor_agrees_with_eager_predict(run_dir, onnx_export, tmp_path):
    paths = write_images(tmp_path / "imgs")
    eager = predict_files(load_model(run_dir), [str(p) for p in paths], 3, torch.device("cpu"))
    served = ExportedPredictor.load(onnx_export.model_path).predict(paths, top_k=3)
    assert [r["path"] for r in served] == [r["path"] for r in eager]
    for e, s in zip(eager[:2], served[:2]):
        assert [t["label"] for t in s["top"]] == [t["label"] for t in e["top"]]
        assert [t["prob"] for t in s["top"]] == pytest.approx([t["prob"] for t in e["top"]],
                                                              abs=1e-4)
    assert "corrupt" in served[2]["error"] or "readable" in served[2]["error"]
    assert served[3]["error"] == "zero-byte file"


@pytest.mark.slow
def test_torchscript_export_matches_eager(run_dir, tmp_path):
    res = export_model(run_dir, "torchscript", tmp_path)
    print(f"torchscript parity: max abs diff {res.max_abs_diff:.3g}")
    assert res.model_path.suffix == ".pt" and res.max_abs_diff < TOL
    rows = ExportedPredictor.load(res.model_path).predict(write_images(tmp_path / "i")[:1])
    assert rows[0]["top"][0]["label"] in CLASSES


def test_safetensors_export_of_a_model_object_reloads(run_dir, tmp_path):
    res = export_model(load_model(run_dir), "safetensors", tmp_path, name="net")
    assert res.model_path == tmp_path / "net.safetensors" and res.max_abs_diff < TOL
    side = json.loads(res.sidecar_path.read_text())
    assert side["format"] == "safetensors" and side["metrics"] is None  # no run folder given
    assert load_model(res.model_path).info.classes == CLASSES


@pytest.mark.slow
def test_onnx_falls_back_to_torch_export_when_legacy_exporter_fails(run_dir, tmp_path,
                                                                      monkeypatch):
    """torch deprecates the TorchScript-based exporter; the dynamo path must work on its own."""
    pytest.importorskip("onnxscript")
    real_export = torch.onnx.export

    def no_legacy(*args, dynamo=True, **kwargs):
        if not dynamo:
            raise RuntimeError("legacy exporter removed")
        return real_export(*args, dynamo=dynamo, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", no_legacy)
    res = export_model(run_dir, "onnx", tmp_path)
    print(f"onnx (torch.export) parity: max abs diff {res.max_abs_diff:.3g}")
    assert res.max_abs_diff < TOL and res.n_inputs == 8


def test_parity_failure_removes_files_and_says_why(run_dir, tmp_path):
    with pytest.raises(ExportError, match="disagrees with eager PyTorch") as err:
        export_model(run_dir, "safetensors", tmp_path, tolerance=-1.0)
    assert "tolerance" in str(err.value)
    assert not list(tmp_path.iterdir())


def test_bad_format_and_missing_sidecar(run_dir, onnx_export, tmp_path):
    with pytest.raises(ConfigError, match="onnx, torchscript, safetensors"):
        export_model(run_dir, "tflite", tmp_path)
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(onnx_export.model_path.read_bytes())
    with pytest.raises(CheckpointError, match="lone.onnx.json"):
        ExportedPredictor.load(lone)


def test_collect_inputs_reads_folders_and_csv(tmp_path):
    paths = write_images(tmp_path / "imgs")
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("path,label\nimgs/img_0.png,cat\nimgs/missing.png,dog\n,bird\n")
    items = collect_inputs([tmp_path / "imgs", csv_file])
    assert [i.path for i in items[:4]] == sorted(paths)
    assert items[4].path == tmp_path / "imgs" / "img_0.png" and items[4].error is None
    assert items[5].error == "file not found"
    assert items[6].error == "empty path in first column"


def test_onnx_serving_does_not_import_training_code(onnx_export, tmp_path):
    paths = write_images(tmp_path)
    script = (
        "import json, sys\n"
        "from transferlab.deploy.serving import ExportedPredictor\n"
        f"rows = ExportedPredictor.load({str(onnx_export.model_path)!r}).predict("
        f"{[str(p) for p in paths]!r})\n"
        "light = ('transferlab.data', 'transferlab.data.imageio', 'transferlab.data.listing',\n"
        "         'transferlab.data.preprocess')\n"
        "heavy = ('transferlab.engine', 'transferlab.model', 'transferlab.data',\n"
        "         'transferlab.api')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'timm')\n"
        "                or (m.startswith(heavy) and m not in light))\n"
        "print(json.dumps({'rows': rows, 'loaded': loaded}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["loaded"] == []
    assert [("error" in r) for r in result["rows"]] == [False, False, True, True]


def test_serving_preprocessing_shares_training_fields():
    """One definition: serving's Preprocessing is training's Preprocess plus the stored size."""
    from dataclasses import fields

    from transferlab.backbones.weights import WeightsSpec
    from transferlab.deploy.export import preprocessing_for
    from transferlab.model import ModelInfo

    assert issubclass(Preprocessing, Preprocess)
    assert [f.name for f in fields(Preprocessing)] == [
        *(f.name for f in fields(Preprocess)), "stored_size"]
    spec = WeightsSpec("x", "y", input_size=(1, 40, 40), mean=(0.5,), std=(0.2,),
                       interpolation="bicubic")
    info = ModelInfo("x", spec, ["a"], image_size=48, extra={"decode_size": 28})
    served = preprocessing_for(info)
    trained = Preprocess.from_spec(spec, 48)
    assert served.key() == trained.key() and served.stored_size == served.decode_size == 28
