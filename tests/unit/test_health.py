"""Data health: the near-copy search, exact duplicates and class statistics."""

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
from transferlab.data.nearcopy import (
    CONTRAST_FLOOR,
    MIN_SIMILARITY,
    box_matrix,
    near_copies,
    prepare,
    shortlist,
    similarity,
    unit_rows,
)


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


def look_alike(img: np.ndarray) -> np.ndarray:
    """The same silhouette with a different print: a small dark logo on the product."""
    size = img.shape[0]
    yy, xx = np.mgrid[0:size, 0:size] / size
    logo = 80 * np.exp(-((yy - 0.45) ** 2 + (xx - 0.5) ** 2) / 0.1 ** 2)
    return np.clip(img.astype(float) - logo * (img > 20), 0, 255).astype(np.uint8)


def test_altered_copy_is_found_and_a_look_alike_is_not():
    img = shape_image(1, 56)  # 2 px here is 1 px at the 28 px the search compares
    rows = as_rows(img, altered(img, 2, 90, 75), altered(img, 4, 40, 85), look_alike(img),
                   shape_image(2, 56))
    prepared = prepare(rows)
    sim = similarity(prepared[0], prepared[0], np.zeros(5, np.int64), np.arange(5))
    assert sim[0] == pytest.approx(1.0)
    assert sim[1] >= MIN_SIMILARITY and sim[2] >= MIN_SIMILARITY  # shifted + resized + JPEG
    assert sim[3] < MIN_SIMILARITY  # the look-alike
    assert sim[4] < 0.9  # a different picture
    i, j, _ = near_copies(prepared)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (1, 2)]
    i, j, _ = near_copies((prepared[0][3:], prepared[1][3:]), (prepared[0][:3], prepared[1][:3]))
    assert len(i) == 0  # the copies are not leaks of the look-alike or the other picture


def slow_similarity(pa, pb, i, j, shift):
    """The definition, one pair and one shift at a time: Pearson correlation of the windows
    times the agreement of their spreads, the best over shifts."""
    win = pa.shape[1] - 2 * shift
    floor = CONTRAST_FLOOR * win

    def match(wa, wb):
        sa, sb = np.linalg.norm(wa - wa.mean()), np.linalg.norm(wb - wb.mean())
        return np.corrcoef(wa, wb)[0, 1] * (2 * sa * sb + floor) / (sa ** 2 + sb ** 2 + floor)

    out = []
    for a, b in zip(i, j):
        wa = pa[a, shift:shift + win, shift:shift + win].ravel()
        out.append(max(match(wa, pb[b, dy:dy + win, dx:dx + win].ravel())
                       for dy in range(2 * shift + 1) for dx in range(2 * shift + 1)))
    return np.array(out)


@pytest.mark.parametrize("shift", [1, 3])
def test_vectorised_similarity_equals_the_definition(shift):
    rng = np.random.default_rng(0)
    pa = rng.normal(size=(6, 12, 12)).astype(np.float32)
    pb = rng.normal(size=(5, 12, 12)).astype(np.float32)
    pa *= 40
    pb *= 40
    pb[4] = np.roll(pa[2], (1, -1), axis=(0, 1))  # a shifted copy: correlation 1
    pb[3] = np.roll(pa[5], (0, 1), axis=(0, 1)) * 0.7  # a copy at 70% contrast: less
    i, j = np.array([0, 1, 2, 5, 2, 5]), np.array([0, 3, 4, 1, 2, 3])
    got = similarity(pa, pb, i, j, shift, chunk=2)
    np.testing.assert_allclose(got, slow_similarity(pa, pb, i, j, shift), atol=1e-5)
    assert got[2] == pytest.approx(1.0)
    assert 0.9 < got[5] < 0.99  # correlation 1 at its shift, 2·0.7/(1 + 0.7²) = 0.94


def test_shortlist_is_each_rows_k_nearest():
    rng = np.random.default_rng(1)
    a = unit_rows(rng.normal(size=(40, 16)))
    b = unit_rows(rng.normal(size=(15, 16)))
    sim = a @ a.T
    np.fill_diagonal(sim, -2)
    nearest = np.argsort(-sim, axis=1)[:, :3]
    want = {(min(r, c), max(r, c)) for r in range(40) for c in nearest[r].tolist()}
    got = set(zip(*(x.tolist() for x in shortlist(a, None, 3, chunk=7))))
    assert got == want
    i, j = shortlist(a, b, 2, chunk=4)  # each row of a: its 2 nearest rows of b
    want = {(r, c) for r in range(40) for c in np.argsort(-(a @ b.T)[r])[:2].tolist()}
    assert set(zip(i.tolist(), j.tolist())) == want


def test_box_matrix_averages_cells():
    m = box_matrix(4, 2)
    np.testing.assert_allclose(m, [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(box_matrix(3, 2) @ np.array([0.0, 3.0, 6.0]), [1.0, 5.0])
    moved = box_matrix(4, 2, np.array([1.0]))[0]  # the window moved 1 px: outside weighs 0
    np.testing.assert_allclose(moved, [[0, 0.5, 0.5, 0], [0, 0, 0, 0.5]])


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
                                             str(train_dup), 1.0]]
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
    assert report["findings"]["exact_train"]["examples"] == [["train[2]", "train[7]", 1.0]]
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
