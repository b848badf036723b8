"""Every data source, bad files reported by path, few-shot sampling and splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from transferlab.data import load_dataset, make_splits
from transferlab.data.files import load_csv, load_folder
from transferlab.data.idx import load_idx
from transferlab.data.sampling import per_class_sample, stratified_split
from transferlab.errors import DataError


def test_idx_train_and_test_splits(idx_folder):
    train = load_idx(idx_folder, "train")
    test = load_idx(idx_folder, "test")
    assert train.images.shape == (60, 1, 28, 28) and train.images.dtype == torch.uint8
    assert len(test) == 30 and train.classes == ["0", "1", "2"]
    assert load_dataset(str(idx_folder), "test") is not None


def test_idx_truncated_file_is_named(idx_folder):
    import gzip

    path = idx_folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated"):
        load_idx(idx_folder, "train")


def test_idx_bad_magic(idx_folder):
    (idx_folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (idx_folder / "t10k-labels-idx1-ubyte").write_bytes(b"hello world")
    with pytest.raises(DataError, match="magic"):
        load_idx(idx_folder, "test")


def test_folder_source(image_folder):
    data = load_folder(image_folder, size=24)
    assert data.classes == ["class_0", "class_1", "class_2"]
    assert data.images.shape == (30, 3, 24, 24)
    assert data.class_counts() == {"class_0": 10, "class_1": 10, "class_2": 10}
    assert data.skipped == []


def _add_bad_files(folder: Path) -> dict[str, str]:
    d = folder / "class_0"
    (d / "zero.png").write_bytes(b"")
    (d / "text.png").write_text("not an image at all")
    good = d / "img_000.png"
    (d / "truncated.png").write_bytes(good.read_bytes()[:60])
    jpg = d / "corrupt.jpg"
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(jpg)
    raw = bytearray(jpg.read_bytes())
    jpg.write_bytes(bytes(raw[:20]) + b"\x00" * 40)
    return {"zero.png": "zero-byte", "text.png": "not a readable image",
            "truncated.png": "", "corrupt.jpg": ""}


def test_bad_files_are_listed_by_path_and_skipped(image_folder):
    expected = _add_bad_files(image_folder)
    data = load_folder(image_folder, size=16)
    assert len(data) == 30
    reported = {Path(b.path).name: b.reason for b in data.skipped}
    assert set(reported) == set(expected)
    for name, reason in expected.items():
        assert reason in reported[name]
    assert data.summary()["skipped"] == 4


def test_bad_files_error_policy_lists_them(image_folder):
    _add_bad_files(image_folder)
    with pytest.raises(DataError) as err:
        load_folder(image_folder, size=16, on_bad="error")
    assert "zero.png" in str(err.value) and "--on-bad-file skip" in str(err.value)


def test_csv_source_with_bad_rows(image_folder):
    csv = image_folder / "labels.csv"
    rows = ["path,label"]
    rows += [f"class_{c}/img_{i:03d}.png,c{c}" for c in range(3) for i in range(4)]
    rows += ["class_0/missing.png,c0", "onlyonefield"]
    csv.write_text("\n".join(rows) + "\n")
    data = load_csv(csv, size=16)
    assert data.classes == ["c0", "c1", "c2"] and len(data) == 12
    reasons = {b.path.split()[0]: b.reason for b in data.skipped}
    assert reasons[f"{csv}:14"] == "file not found"
    assert "two fields" in reasons[f"{csv}:15"]


def test_csv_regression_targets(image_folder):
    csv = image_folder / "targets.csv"
    csv.write_text("path,target\nclass_0/img_000.png,1.5\nclass_1/img_000.png,2.5\n"
                   "class_2/img_000.png,abc\n")
    data = load_csv(csv, size=16, task="regression")
    assert data.is_regression and data.labels.tolist() == [1.5, 2.5]
    assert "not a number" in data.skipped[0].reason


def test_missing_data_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(str(tmp_path / "nope"))


def test_per_class_sample_is_stratified_and_seeded():
    labels = torch.arange(5).repeat_interleave(50)
    a = per_class_sample(labels, 7, seed=1)
    b = per_class_sample(labels, 7, seed=1)
    c = per_class_sample(labels, 7, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.bincount(labels[a]).tolist() == [7] * 5


def test_stratified_split_disjoint():
    labels = torch.arange(4).repeat_interleave(20)
    rest, held = stratified_split(labels, 0.25, seed=0)
    assert set(rest.tolist()).isdisjoint(held.tolist())
    assert len(rest) + len(held) == 80
    assert torch.bincount(labels[held]).tolist() == [5] * 4


def test_make_splits_budget_and_held_out_test(image_folder):
    data = load_folder(image_folder, size=16)
    splits = make_splits(data, None, per_class=5, val_fraction=0.1, seed=0)
    assert len(splits.test) == 6  # 20% of 10 per class held out first
    assert splits.train.class_counts() == {"class_0": 5, "class_1": 5, "class_2": 5}
    assert splits.val is None  # fewer than 10 per class: no validation split
    test_paths = set(splits.test.paths)
    assert test_paths.isdisjoint(splits.train.paths)


@pytest.mark.parametrize(("per_class", "val_per_class"), [(20, None), (30, 3), (100, 10)])
def test_validation_only_when_it_can_choose_an_epoch(per_class, val_per_class):
    from transferlab.data.dataset import ImageSet

    labels = torch.arange(4).repeat_interleave(per_class)
    data = ImageSet(torch.zeros(len(labels), 1, 4, 4, dtype=torch.uint8), labels,
                    ["a", "b", "c", "d"], "synthetic")
    test = data.subset(torch.arange(4))
    splits = make_splits(data, test, per_class=None, val_fraction=0.1, seed=0)
    if val_per_class is None:  # 2 per class would decide the epoch by coin flips
        assert splits.val is None and len(splits.train) == len(data)
    else:
        assert set(splits.val.class_counts().values()) == {val_per_class}
        assert len(splits.train) + len(splits.val) == len(data)
