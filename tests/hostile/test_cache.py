"""Decode at the size training uses, once, into the on-disk decode cache.

Each test points TRANSFERLAB_CACHE at its own folder (the shared test cache would let one test's
decode satisfy another's), writes its own images, and checks what was decoded, when, at what
size, and where the pixels live.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import transferlab.data.cache as cache
import transferlab.data.files as files
from tests.conftest import class_image, write_folder
from transferlab.api.runner import prepare_data
from transferlab.backbones.weights import WeightsSpec
from transferlab.config import RunConfig
from transferlab.data import ImageSet, load_dataset, make_splits
from transferlab.data.cache import RAM_LIMIT_ENV, DiskImages, entries_dir
from transferlab.data.files import decode_image, load_folder
from transferlab.data.transforms import Preprocess
from transferlab.engine.recipe import auto_image_size

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRANSFERLAB_CACHE", str(cache))
    monkeypatch.delenv(RAM_LIMIT_ENV, raising=False)
    return cache


def forbid_decoding(monkeypatch) -> None:
    def fail(path, size):
        raise AssertionError(f"decoded {path} again: the cache should have been read")

    monkeypatch.setattr(files, "decode_image", fail)


def pixels(data) -> np.ndarray:
    return data.images[torch.arange(len(data))].numpy()


def sized_folder(root: Path, sizes: list[tuple[int, int]], classes: int = 2) -> Path:
    """Class folders of photo-like images of the given (width, height)s."""
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            big = class_image(c, i, max(w, h))
            Image.fromarray(big[:h, :w]).save(root / f"c{c}" / f"{i}.png")
    return root


def test_second_load_reads_the_cache_and_decodes_nothing(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "imgs", classes=3, per_class=6, size=24)
    first = load_folder(root, size=None)
    assert first.originals["decode_cache"]["decoded_now"] is True
    forbid_decoding(monkeypatch)
    second = load_folder(root, size=None)
    assert second.originals["decode_cache"]["decoded_now"] is False
    assert np.array_equal(pixels(first), pixels(second))
    assert second.paths == first.paths and torch.equal(second.labels, first.labels)


def test_a_second_run_prepares_its_data_without_decoding(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "imgs", classes=2, per_class=10, size=24)
    cfg = RunConfig(data=str(root), device="cpu", seed=1)
    first = prepare_data(cfg, log=lambda *_: None)
    forbid_decoding(monkeypatch)
    second = prepare_data(cfg, log=lambda *_: None)
    for a, b in ((first.train, second.train), (first.test, second.test)):
        assert np.array_equal(pixels(a), pixels(b)) and a.paths == b.paths


def test_killed_decode_is_never_read_as_complete(tmp_path, own_cache):
    root = write_folder(tmp_path / "imgs", classes=3, per_class=10, size=24)
    script = (
        "import os, signal, sys\n"
        "import transferlab.data.files as files\n"
        "real, seen = files.decode_image, []\n"
        "def dying(path, size):\n"
        "    seen.append(path)\n"
        "    if len(seen) > 5:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(path, size)\n"
        "files.decode_image = dying\n"
        f"files.load_folder({str(root)!r}, size=16)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "TRANSFERLAB_CACHE": str(own_cache)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = [p.name for p in entries_dir().iterdir()]
    assert left and all(".tmp-" in name for name in left), left  # only the half-written one
    data = load_folder(root, size=16)
    assert data.originals["decode_cache"]["decoded_now"] is True
    expected = np.stack([decode_image(Path(p), 16).transpose(2, 0, 1) for p in data.paths])
    assert len(data) == 30 and np.array_equal(pixels(data), expected)
    assert [p.name for p in entries_dir().iterdir()] == [data.originals["decode_cache"]["entry"]]


def test_truncated_cache_file_is_ignored_and_rebuilt(tmp_path):
    root = write_folder(tmp_path / "imgs", classes=2, per_class=5, size=24)
    good = pixels(load_folder(root, size=16))
    [entry] = list(entries_dir().iterdir())
    data_file = entry / "images.u8"
    full = data_file.stat().st_size
    with open(data_file, "r+b") as f:
        f.truncate(full - 100)
    again = load_folder(root, size=16)
    assert again.originals["decode_cache"]["decoded_now"] is True
    assert np.array_equal(pixels(again), good) and data_file.stat().st_size == full


def settled_folder(root: Path) -> Path:
    """Files last modified an hour ago: old enough for the scan record to trust their stat."""
    old = time.time_ns() - 3600 * 10**9
    for f in root.rglob("*.png"):
        os.utime(f, ns=(old, old))
    return root


def test_second_scan_reads_no_unchanged_file(tmp_path, monkeypatch):
    root = settled_folder(write_folder(tmp_path / "imgs", classes=2, per_class=5, size=24))
    first = load_folder(root, size=16)

    def no_reading(path):
        raise AssertionError(f"read {path} again although it did not change")

    monkeypatch.setattr(cache, "scan_file", no_reading)
    forbid_decoding(monkeypatch)
    second = load_folder(root, size=16)
    assert np.array_equal(pixels(first), pixels(second))
    assert second.originals["width"] == first.originals["width"]


def test_changed_content_invalidates_the_cache_even_with_the_same_mtime(tmp_path, monkeypatch):
    root = settled_folder(write_folder(tmp_path / "imgs", classes=2, per_class=5, size=24))
    load_folder(root, size=16)
    target = root / "class_1" / "img_002.png"
    stat = target.stat()
    noise = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(noise).save(target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # a copy tool keeping mtimes
    data = load_folder(root, size=16)
    assert data.originals["decode_cache"]["decoded_now"] is True
    row = data.paths.index(str(target))
    assert np.array_equal(pixels(data)[row], decode_image(target, 16).transpose(2, 0, 1))


def test_large_set_is_file_backed_and_never_loaded_whole(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "imgs", classes=3, per_class=10, size=24)
    in_ram = load_folder(root, size=16)
    monkeypatch.setenv(RAM_LIMIT_ENV, "0.01")  # 10 KB: these 23 KB of pixels are "large"
    data = load_folder(root, size=16)
    assert isinstance(data.images, DiskImages) and data.file_backed
    assert not isinstance(in_ram.images, DiskImages)
    reads: list[int] = []
    real_read = DiskImages._read
    monkeypatch.setattr(DiskImages, "_read", lambda self, rows: reads.append(len(
        np.atleast_1d(rows))) or real_read(self, rows))
    splits = make_splits(data, None, None, 0.2, seed=0)
    ram_splits = make_splits(in_ram, None, None, 0.2, seed=0)
    assert reads == []  # splitting selected rows without reading a pixel
    assert splits.train.file_backed and splits.test.file_backed
    pre = Preprocess(32, (0.5,) * 3, (0.5,) * 3)
    idx = torch.tensor([5, 0, 3, 4])
    batch = splits.train.batch(idx, pre, CPU, True, torch.Generator().manual_seed(3))
    expected = ram_splits.train.batch(idx, pre, CPU, True, torch.Generator().manual_seed(3))
    assert reads == [4] and torch.equal(batch, expected)  # just the 4 rows asked for
    assert torch.equal(splits.test.images[torch.arange(len(splits.test))],
                       ram_splits.test.images)
    assert splits.train.fingerprint() == splits.train.fingerprint() != splits.test.fingerprint()
    assert "file-backed" in splits.train.place(CPU)
    assert splits.train.images[2].shape == (3, 16, 16)  # int index, as the rank bench uses
    assert splits.train.images[torch.tensor([], dtype=torch.long)].shape == (0, 3, 16, 16)
    assert torch.equal(splits.test.images.to(CPU), ram_splits.test.images)  # place() on a GPU
    assert splits.train.summary()["image_shape"] == [3, 16, 16]


def test_small_originals_are_stored_at_their_own_size_like_idx(tmp_path):
    sizes = [(28, 28), (28, 28), (24, 30), (32, 32), (28, 40), (36, 28)]
    root = sized_folder(tmp_path / "imgs", sizes)
    cfg = RunConfig(data=str(root), device="cpu")
    splits = prepare_data(cfg, log=lambda *_: None)
    assert splits.train.source_size == 28  # the median shorter side; was 224 px
    spec = WeightsSpec("x", "test")
    assert auto_image_size(spec, splits.train.source_size, CPU) == 96  # as 28 px IDX data
    assert splits.test.source_size == 28
    originals = splits.summary()["train"]["originals"]
    assert originals["files"] == 12
    assert originals["width"] == {"min": 24, "median": 28, "max": 36}
    assert originals["height"] == {"min": 28, "median": 29, "max": 40}
    assert originals["modes"] == {"RGB": 12} and originals["stored_size"] == 28


def test_large_originals_are_stored_no_larger_than_the_cpu_recipe_trains(tmp_path):
    root = sized_folder(tmp_path / "imgs", [(200, 180), (240, 200), (180, 200)] * 2)
    splits = prepare_data(RunConfig(data=str(root), device="cpu"), log=lambda *_: None)
    assert splits.train.source_size == 160  # auto recipe on a CPU trains at <= 160 px
    assert splits.train.images[0].numel() == 3 * 160 * 160  # 77 KB an image, was 150 KB


def test_image_size_flag_decides_the_stored_size(tmp_path):
    root = sized_folder(tmp_path / "imgs", [(100, 100)] * 5)
    cfg = RunConfig(data=str(root), device="cpu", image_size=48)
    assert prepare_data(cfg, log=lambda *_: None).train.source_size == 48
    assert load_dataset(str(root), "train", None, max_size=64).source_size == 64


@pytest.mark.slow
def test_compare_on_a_file_backed_folder_decodes_each_file_once(tmp_path, monkeypatch):
    """Every strategy, the feature cache, predictions, the report and the training hashes read
    the file-backed images; the folder is decoded once for the whole compare."""
    from transferlab.api.compare import compare

    root = write_folder(tmp_path / "imgs", classes=2, per_class=8, size=24)
    monkeypatch.setenv(RAM_LIMIT_ENV, "0.001")
    decoded: list[Path] = []
    real = files.decode_image
    monkeypatch.setattr(files, "decode_image", lambda p, s: decoded.append(p) or real(p, s))
    placed: list[str] = []
    real_place = ImageSet.place
    monkeypatch.setattr(ImageSet, "place", lambda self, d, *a: placed.append(
        "file-backed" if self.file_backed else "ram") or real_place(self, d, *a))
    cfg = RunConfig(data=str(root), device="cpu", strategies=["linear-probe", "finetune"],
                    epochs=1, image_size=32, batch_size=8, out=str(tmp_path / "runs"),
                    name="cmp")
    report = compare(cfg, log=lambda *_: None)
    assert sorted(decoded) == sorted(root.rglob("*.png"))  # 16 files, each decoded once
    assert [r["strategy"] for r in report.rows] == ["linear-probe", "finetune"]
    assert placed and set(placed) == {"file-backed"}
    with np.load(tmp_path / "runs" / "cmp" / "finetune" / "predictions.npz") as z:
        assert z["y_true"].shape == (4,)
    summary = json.loads((tmp_path / "runs" / "cmp" / "data.json").read_text())["train"]
    assert summary["originals"]["stored_size"] == 32 and summary["image_shape"] == [3, 32, 32]
    assert summary["originals"]["width"] == {"min": 24, "median": 24, "max": 24}
