"""Data health: perceptual hashes, the exact pair search, duplicates and class statistics."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import class_image, write_folder
from transferlab.data import ImageSet, load_dataset
from transferlab.data.health import check_sets
from transferlab.data.phash import box_matrix, image_hashes, near_pairs


def shape_image(seed: int, size: int = 64) -> np.ndarray:
    """A grey picture with a few smooth blobs on a black background, like a product photo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size))
    for _ in range(4):
        cy, cx, r = rng.uniform(0.25, 0.75, 2).tolist() + [rng.uniform(0.08, 0.2)]
        img += rng.uniform(80, 200) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2)
    return np.clip(img, 0, 255).astype(np.uint8)


def altered(img: np.ndarray, dx: int, side: int, quality: int) -> np.ndarray:
    """Shift by dx px (black fill), resize to `side`, JPEG, back to the original size."""
    shifted = np.zeros_like(img)
    shifted[:, dx:] = img[:, :-dx]
    im = Image.fromarray(shifted).resize((side, side), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    back = Image.open(io.BytesIO(buf.getvalue())).resize(img.shape[::-1],
                                                          Image.Resampling.BICUBIC)
    return np.asarray(back)


def as_rows(*images: np.ndarray) -> np.ndarray:
    return np.stack([np.repeat(im[None], 3, axis=0) for im in images])


@pytest.mark.parametrize("method", ["phash", "dhash"])
def test_altered_copy_is_within_threshold_and_another_image_is_not(method):
    img = shape_image(1)
    rows = as_rows(img, altered(img, 1, 90, 75), altered(img, 2, 48, 85), shape_image(2))
    h = image_hashes(rows, method)
    dist = np.bitwise_count(h[0] ^ h)
    assert dist[0] == 0
    assert dist[1] <= 6 and dist[2] <= 6  # resized + shifted + JPEG copies
    assert dist[3] > 12  # a different picture


def test_box_matrix_averages_cells():
    m = box_matrix(4, 2)
    np.testing.assert_allclose(m, [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(box_matrix(3, 2) @ np.array([0.0, 3.0, 6.0]), [1.0, 5.0])


def brute(a, b, t):
    d = np.bitwise_count(a[:, None] ^ (a if b is None else b)[None, :])
    ok = d <= t
    if b is None:
        ok = np.triu(ok, 1)
    i, j = np.nonzero(ok)
    return sorted(zip(i.tolist(), j.tolist(), d[i, j].tolist()))


@pytest.mark.parametrize("chunk", [1, 7, 32])
def test_pair_search_equals_brute_force(chunk):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, 300, dtype=np.uint64)
    a[10] = a[200]
    a[50] = a[3] ^ np.uint64(0b1011)  # distance 3
    b = np.concatenate([a[:5] ^ np.uint64(1), rng.integers(0, 2**63, 100, dtype=np.uint64)])
    for t in (0, 3, 22):
        got = sorted(zip(*(x.tolist() for x in near_pairs(a, None, t, chunk))))
        assert got == brute(a, None, t)
        got = sorted(zip(*(x.tolist() for x in near_pairs(a, b, t, chunk))))
        assert got == brute(a, b, t)
    assert (10, 200, 0) in brute(a, None, 0) and (3, 50, 3) in brute(a, None, 3)


def other_folder(root):
    """Two classes of two images unlike write_folder's (its images repeat for equal seeds)."""
    for c in range(2):
        (root / f"class_{c}").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(class_image(c, 100 + i)).save(root / f"class_{c}" / f"t{i}.png")
    return root


def test_exact_duplicates_by_file_content_and_leakage(tmp_path):
    root = write_folder(tmp_path / "d", classes=2, per_class=6)
    train_dup = root / "class_0" / "img_dup.png"
    shutil.copy(root / "class_0" / "img_001.png", train_dup)
    test = other_folder(tmp_path / "t")
    shutil.copy(root / "class_1" / "img_004.png", test / "class_1" / "leak.png")
    report = check_sets(load_dataset(str(root)), load_dataset(str(test)))
    f = report.to_dict()["findings"]
    assert f["exact_train"]["pairs"] == 1 and f["exact_train"]["images"] == 2
    assert f["exact_train"]["examples"] == [[str(root / "class_0" / "img_001.png"),
                                             str(train_dup), 0]]
    assert f["exact_leak"]["pairs"] == 1 and f["exact_leak"]["images"] == 1
    assert f["exact_leak"]["examples"][0][1] == str(test / "class_1" / "leak.png")
    assert f["near_train"]["pairs"] == 0  # the exact pair is not counted twice


def idx_like(images: np.ndarray, labels: list[int], classes: list[str]) -> ImageSet:
    return ImageSet(torch.from_numpy(images), torch.tensor(labels), classes, "mem")


def test_pixel_duplicates_without_files_and_class_statistics():
    imgs = as_rows(*(shape_image(s, 28) for s in range(8)))
    imgs[7] = imgs[2]  # same pixels, no files: keyed by the pixels
    train = idx_like(imgs, [0, 0, 0, 0, 0, 0, 1, 1], ["a", "b", "c"])
    report = check_sets(train).to_dict()
    assert report["findings"]["exact_train"]["examples"] == [["train[2]", "train[7]", 0]]
    classes = report["classes"]
    assert classes["counts"] == {"a": 6, "b": 2, "c": 0}
    assert classes["imbalance_ratio"] == 3.0 and classes["empty"] == ["c"]
    assert classes["small"] == {"a": 6, "b": 2}
    assert report["images"]["stored_shape"] == [3, 28, 28]
    assert "check: 1 exact duplicates in train" in check_sets(train).headline()


def test_regression_has_no_class_statistics():
    imgs = as_rows(*(shape_image(s, 16) for s in range(4)))
    train = ImageSet(torch.from_numpy(imgs), torch.rand(4), [], "mem")
    assert check_sets(train).to_dict()["classes"] is None
