"""bench/peer_fastai.py's pure helpers: the PNG folders every tool reads (counts, class folders,
pixels round-trip, grey → 3 identical channels) and the time-to-accuracy rule it prints."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import BENCH, load_script


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCH / "peer_fastai.py")


def test_class_folders_sort_by_index_and_are_one_path_component(bench) -> None:
    names = [bench.class_folder(i, n) for i, n in enumerate(["T-shirt/top", "Bag", "Ankle boot"])]
    assert names == ["00_T-shirt-top", "01_Bag", "02_Ankle-boot"]
    assert sorted(names) == names


def test_png_folder_holds_the_picked_images_with_their_pixels(bench, tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labels = np.array([0, 1, 2] * 4)
    classes = ["T-shirt/top", "Trouser", "Bag"]
    picked = [0, 1, 2, 3, 5, 9]
    assert bench.write_png_folder(tmp_path, images, labels, classes, picked) == 6
    counts = {p.name: len(list(p.glob("*.png"))) for p in tmp_path.iterdir()}
    assert counts == {"00_T-shirt-top": 3, "01_Trouser": 1, "02_Bag": 2}
    for i in picked:
        path = tmp_path / bench.class_folder(labels[i], classes[labels[i]]) / f"{i:05d}.png"
        with Image.open(path) as im:
            assert im.mode == "L"
            np.testing.assert_array_equal(np.asarray(im), images[i])
    files = bench.list_pngs(tmp_path)
    rgb = bench.decode_pngs(files, 28)  # same size: no resampling, grey in all three channels
    assert rgb.shape == (6, 3, 28, 28)
    np.testing.assert_array_equal(rgb[:, 0], rgb[:, 2])
    np.testing.assert_array_equal(rgb[0, 1], images[int(files[0].stem)])


def test_a_folder_the_bench_did_not_write_is_refused_not_deleted(bench, tmp_path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit):
        bench.prepare_data(tmp_path, 10, 200, 0)
    assert (tmp_path / "train" / "mine.txt").read_text() == "keep"


def test_time_to_target_is_the_first_epoch_whose_validation_reaches_it(bench) -> None:
    history = [{"epoch": e, "seconds": 10.0 * e, "val": {"accuracy": a, "n": 100}}
               for e, a in [(1, 0.5), (2, 0.8), (3, 0.9)]]
    assert bench.time_to_target(history, 0.8) == (2, 20.0)
    assert "never reached" in bench.time_to_target(history, 0.95)
    assert "no validation" in bench.time_to_target([{"epoch": 1, "seconds": 1.0}], 0.5)


def test_without_fastai_it_says_how_to_install_it_and_exits_2(bench, monkeypatch, capsys,
                                                               tmp_path) -> None:
    real = bench.importlib.util.find_spec
    monkeypatch.setattr(bench.importlib.util, "find_spec",
                        lambda name, *a: None if name == "fastai" else real(name, *a))
    with pytest.raises(SystemExit) as exc:
        bench.main(["--quick", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "pip install 'transferlab[peer]'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written before the check
