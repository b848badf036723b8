"""One decode rule: the hostile image files a real folder holds, decoded the same everywhere.

Each test writes its own file, then decodes it three ways (the training decode, `predict`'s eager
path and the torch-free serving Preprocessing) and asserts the three agree to the byte and are
right: upright, not clipped, transparency on white.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from transferlab.backbones.weights import WeightsSpec
from transferlab.data.files import decode_image, load_folder
from transferlab.deploy.serving import ExportedPredictor, Preprocessing

SIZE = 32  # every hostile file is 32 px on its shorter side: decoded without resampling
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


class FakeModel:
    """Just enough of a TransferModel for `predict_files` to decode and preprocess files."""

    def __init__(self, size: int) -> None:
        self.info = SimpleNamespace(extra={}, image_size=size, decode_size=size,
                                    task="classification", classes=["a", "b"])
        self.spec = WeightsSpec("fake", "test", input_size=(3, size, size))

    def to(self, device):
        return self


def predict_decoded(path: Path, monkeypatch) -> np.ndarray:
    """The uint8 pixels `predict_files` feeds the network (the eager path, not an export)."""
    import transferlab.engine.loop as loop
    from transferlab.deploy.predict import predict_files

    seen = {}

    def capture(model, data, pre, device, batch_size=64, **_):
        seen["images"] = data.images.clone()
        return torch.zeros(len(data), 2)

    monkeypatch.setattr(loop, "predict_logits", capture)
    rows = predict_files(FakeModel(SIZE), [str(path)], 1, torch.device("cpu"))
    assert "error" not in rows[0], rows[0]
    return seen["images"][0].permute(1, 2, 0).numpy()


def serving_decoded(path: Path) -> np.ndarray:
    return Preprocessing(SIZE, (0.5,) * 3, (0.5,) * 3).load(path)


def decoded_everywhere(path: Path, monkeypatch) -> np.ndarray:
    """Decode three ways, assert they are identical, return the pixels (H, W, 3) uint8."""
    train = decode_image(path, SIZE)
    predicted = predict_decoded(path, monkeypatch)
    served = serving_decoded(path)
    assert train.shape == (SIZE, SIZE, 3) and train.dtype == np.uint8
    assert np.array_equal(train, predicted), "predict decodes differently from training"
    assert np.array_equal(train, served), "serving decodes differently from training"
    return train


def folder_with(tmp_path: Path, name: str, write) -> tuple[Path, Path]:
    """A two-class folder whose first class holds the hostile file `name` (written by `write`)."""
    root = tmp_path / "data"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        Image.fromarray(np.full((SIZE, SIZE, 3), 128, np.uint8)).save(root / c / "plain.png")
    target = root / "a" / name
    write(target)
    return root, target


def training_pixels(root: Path, target: Path) -> np.ndarray:
    data = load_folder(root, size=SIZE)
    row = data.paths.index(str(target))
    return data.images[torch.tensor([row])][0].permute(1, 2, 0).numpy()


def near(pixel: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() <= tol)


# -- EXIF orientation --
def write_exif_rotated(path: Path) -> None:
    """Stored 64x32 (left half red, right blue) with orientation 6: shown 32x64, red on top."""
    raw = np.zeros((SIZE, 2 * SIZE, 3), np.uint8)
    raw[:, :SIZE] = RED
    raw[:, SIZE:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": how phones store portrait photos
    Image.fromarray(raw).save(path, exif=exif, quality=95)


def test_exif_orientation_6_jpeg_is_decoded_upright_everywhere(tmp_path, monkeypatch):
    root, path = folder_with(tmp_path, "portrait.jpg", write_exif_rotated)
    pixels = decoded_everywhere(path, monkeypatch)
    # upright: the centre crop of the 32x64 portrait has red above blue (sideways: red left)
    for row in (2, 8, 13):
        assert near(pixels[row, 2], RED) and near(pixels[row, 29], RED), f"row {row} not red"
    for row in (18, 23, 29):
        assert near(pixels[row, 2], BLUE) and near(pixels[row, 29], BLUE), f"row {row} not blue"
    assert np.array_equal(training_pixels(root, path), pixels)


# -- 16-bit --
def sixteen_bit_values() -> np.ndarray:
    rng = np.random.default_rng(16)
    values = rng.integers(0, 65536, (SIZE, SIZE)).astype(np.uint16)
    values[0, :4] = (0, 128, 129, 65535)  # the rounding edges and both ends
    values[1, :] = 30000  # a mid grey: PIL's convert("RGB") makes it 255
    return values


def test_16bit_png_is_scaled_by_257_not_clipped(tmp_path, monkeypatch):
    values = sixteen_bit_values()
    root, path = folder_with(tmp_path, "scan16.png", lambda p: Image.fromarray(values).save(p))
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    pixels = decoded_everywhere(path, monkeypatch)
    expected = np.rint(values / 257).astype(np.uint8)
    assert np.array_equal(expected, (values.astype(np.int64) + 128) // 257)
    for c in range(3):
        assert np.array_equal(pixels[..., c], expected)
    assert pixels[1, 0, 0] == round(30000 / 257) == 117
    assert (pixels == 255).mean() < 0.01  # clipping made almost every pixel 255
    assert np.array_equal(training_pixels(root, path), pixels)


# -- float --
def test_float_tiff_in_documented_range_scales_by_255(tmp_path, monkeypatch):
    values = np.random.default_rng(3).random((SIZE, SIZE)).astype(np.float32)
    values[0, :2] = (0.0, 1.0)
    path = tmp_path / "depth.tif"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "F"
    pixels = decoded_everywhere(path, monkeypatch)
    expected = np.rint(values.astype(np.float64) * 255).astype(np.uint8)
    for c in range(3):
        assert np.array_equal(pixels[..., c], expected)


def test_float_tiff_outside_0_1_is_refused_with_the_reason_not_clipped(tmp_path, monkeypatch):
    values = np.linspace(0, 4, SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    root, path = folder_with(tmp_path, "raw.tif", lambda p: Image.fromarray(values).save(p))
    with pytest.raises(ValueError, match=r"outside the documented range \[0, 1\]"):
        decode_image(path, SIZE)
    with pytest.raises(ValueError, match=r"max 4"):
        serving_decoded(path)
    data = load_folder(root, size=SIZE)
    assert str(path) not in data.paths
    [bad] = [b for b in data.skipped if b.path == str(path)]
    assert "outside the documented range [0, 1]" in bad.reason and "\n" not in bad.reason


# -- transparency --
def test_palette_with_trns_composites_onto_white(tmp_path, monkeypatch):
    index = np.zeros((SIZE, SIZE), np.uint8)
    index[:, SIZE // 2:] = 1
    im = Image.fromarray(index, "P")
    im.putpalette([0, 0, 0, *RED] + [0] * 762)  # index 0 is black, but fully transparent
    path = tmp_path / "icon.png"
    im.save(path, transparency=0)
    pixels = decoded_everywhere(path, monkeypatch)
    assert (pixels[:, : SIZE // 2] == WHITE).all()  # was black: the palette colour under it
    assert (pixels[:, SIZE // 2:] == RED).all()


def test_la_composites_onto_white(tmp_path, monkeypatch):
    grey = np.full((SIZE, SIZE), 40, np.uint8)
    alpha = np.zeros((SIZE, SIZE), np.uint8)
    alpha[:, 11:22] = 128
    alpha[:, 22:] = 255
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(path)
    pixels = decoded_everywhere(path, monkeypatch).astype(int)
    assert (pixels[:, :11] == 255).all()  # transparent: the background, not the grey under it
    assert (pixels[:, 22:] == 40).all()
    blend = (40 * 128 + 255 * 127) / 255  # 147.1
    assert (np.abs(pixels[:, 11:22] - blend) <= 1).all()


def test_rgba_composites_onto_white(tmp_path, monkeypatch):
    rgba = np.zeros((SIZE, SIZE, 4), np.uint8)
    rgba[..., :3] = BLUE  # blue everywhere, but only the right part is opaque
    rgba[:, 11:22] = (*RED, 128)
    rgba[:, 22:, 3] = 255
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pixels = decoded_everywhere(path, monkeypatch).astype(int)
    assert (pixels[:, :11] == WHITE).all()
    assert (pixels[:, 22:] == BLUE).all()
    half = 255 * 127 / 255  # white showing through half-transparent red: (255, 127, 127)
    assert (pixels[:, 11:22, 0] == 255).all()
    assert (np.abs(pixels[:, 11:22, 1:] - half) <= 1).all()


# -- CMYK --
def test_cmyk_jpeg_is_converted_to_rgb(tmp_path, monkeypatch):
    cmyk = np.zeros((SIZE, SIZE, 4), np.uint8)
    cmyk[:, : SIZE // 2] = (0, 255, 255, 0)  # red in CMYK
    cmyk[:, SIZE // 2:] = (255, 0, 0, 0)  # cyan
    path = tmp_path / "print.jpg"
    Image.fromarray(cmyk, "CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    pixels = decoded_everywhere(path, monkeypatch)
    assert near(pixels[16, 4], RED) and near(pixels[16, 27], (0, 255, 255))


# -- serving stays torch-free --
def test_serving_decode_runs_without_torch(tmp_path):
    path = tmp_path / "scan16.png"
    Image.fromarray(sixteen_bit_values()).save(path)
    code = ("import sys; from transferlab.deploy.serving import Preprocessing; "
            f"a = Preprocessing({SIZE}, (0.5,)*3, (0.5,)*3).load({str(path)!r}); "
            "print(int(a[1, 0, 0]), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["117", "False"]
    assert ExportedPredictor is not None  # the exported predictor uses this same Preprocessing
