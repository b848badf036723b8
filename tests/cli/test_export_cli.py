"""`transferlab export` and `transferlab predict` on exports, as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from transferlab.model import build_model

pytest.importorskip("onnxruntime")

CLASSES = ["cat", "dog", "bird"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "transferlab", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", CLASSES, pretrained=False)
    model.info.image_size = 64
    model.save(root / "model.safetensors")
    (root / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    return root


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    paths = []
    for i, shape in enumerate([(70, 90, 3), (100, 64, 3)]):
        paths.append(folder / f"photo_{i}.png")
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(paths[-1])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    return paths + [folder / "broken.png"]


@pytest.fixture(scope="module")
def onnx_file(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export")
    res = cli("export", str(run_dir), "--format", "onnx", "--out", str(out))
    assert res.returncode == 0, res.stderr
    print(res.stdout)
    assert f"wrote {out / 'model.onnx'}" in res.stdout
    assert f"wrote {out / 'model.onnx.json'}" in res.stdout
    diff = float(res.stdout.split("max abs diff ")[1].split()[0])
    assert diff < 1e-3
    return out / "model.onnx"


def test_export_then_predict_onnx_json(onnx_file, images):
    res = cli("predict", str(onnx_file), *map(str, images), "--format", "json", "--top-k", "2")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(p) for p in images]
    for row in rows[:2]:
        assert len(row["top"]) == 2 and all(t["label"] in CLASSES for t in row["top"])
    assert "error" in rows[2] and "top" not in rows[2]


def test_predict_run_folder_csv_input_csv_output(run_dir, images, onnx_file, tmp_path):
    listing = tmp_path / "inputs.csv"
    listing.write_text("path\n" + "\n".join(str(p) for p in images) + "\nnope.png\n")
    out_file = tmp_path / "preds.csv"
    res = cli("predict", str(run_dir), str(listing), "--format", "csv", "--output", str(out_file))
    assert res.returncode == 0, res.stderr
    assert "wrote 4 rows (2 errors)" in res.stderr
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert [r["error"] == "" for r in rows] == [True, True, False, False]
    assert rows[3]["error"] == "file not found"
    assert rows[0]["label1"] in CLASSES and 0.0 < float(rows[0]["prob1"]) <= 1.0
    # The eager run folder and its ONNX export give the same answer on the same files.
    onnx_res = cli("predict", str(onnx_file), *map(str, images[:2]), "--format", "csv")
    onnx_rows = list(csv.DictReader(io.StringIO(onnx_res.stdout)))
    for eager, served in zip(rows[:2], onnx_rows):
        assert served["label1"] == eager["label1"]
        assert float(served["prob1"]) == pytest.approx(float(eager["prob1"]), abs=1e-4)


@pytest.mark.slow
def test_export_torchscript_and_predict_text(run_dir, images, tmp_path):
    res = cli("export", str(run_dir), "--format", "torchscript", "--out", str(tmp_path),
              "--image", str(images[0]))
    assert res.returncode == 0, res.stderr
    print(res.stdout)
    assert "on the logits of 9 inputs" in res.stdout
    pred = cli("predict", str(tmp_path / "model.pt"), *map(str, images))
    assert pred.returncode == 0, pred.stderr
    lines = pred.stdout.splitlines()
    assert len(lines) == 3 and "ERROR" in lines[2] and lines[0].split("\t")[1].split()[0] in CLASSES


def test_export_and_predict_errors_are_one_clear_line(tmp_path, images):
    res = cli("export", str(tmp_path / "no-such-run"), "--format", "onnx")
    assert res.returncode == 2 and "error: no model at" in res.stderr
    assert "Traceback" not in res.stderr
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(b"not used")
    res = cli("predict", str(lone), str(images[0]))
    assert res.returncode == 2 and "lone.onnx.json" in res.stderr
    assert "Traceback" not in res.stderr
