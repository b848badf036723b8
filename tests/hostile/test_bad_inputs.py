"""Data a run survives but must not hide: empty class folders, classes too small for the split,
a --per-class budget larger than a class, semicolon CSVs, NaN/inf regression targets."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.conftest import write_folder
from tests.hostile.clihelp import cli
from transferlab.data import load_dataset, make_splits
from transferlab.data.files import load_csv, load_folder
from transferlab.data.listing import DataWarning
from transferlab.data.text_files import is_text_source, load_text_csv
from transferlab.errors import DataError


def test_empty_class_folder_is_skipped_with_a_warning(tmp_path):
    data = write_folder(tmp_path / "imgs", classes=2, per_class=3)
    (data / "aaa_empty").mkdir()
    with pytest.warns(DataWarning, match=r"aaa_empty: empty class folder \(no image files\); "
                      "left out, not a class with 0 images"):
        ds = load_folder(data, 32)
    assert ds.classes == ["class_0", "class_1"]
    assert ds.class_counts() == {"class_0": 3, "class_1": 3}
    (note,) = [b for b in ds.skipped if b.path.endswith("aaa_empty")]
    assert note.reason.startswith("empty class folder")  # so data.json lists it


def test_class_of_one_image_is_named_for_its_zero_test_images(tmp_path):
    data = write_folder(tmp_path / "imgs", classes=2, per_class=10)
    write_folder(tmp_path / "one", classes=1, per_class=1)
    (tmp_path / "one" / "class_0").rename(data / "tiny")
    ds = load_folder(data, 32)
    with pytest.warns(DataWarning) as caught:
        splits = make_splits(ds, None, None, 0.0, seed=0)
    (message,) = [str(w.message) for w in caught]
    assert message == ("1 class(es) too small to hold out a test image get 0 test images "
                       "('tiny' has 1 in all): test metrics say nothing about them; add images "
                       "or pass --test-data")
    assert splits.test.class_counts()["tiny"] == 0
    assert splits.summary()["warnings"] == [message]  # written to data.json


def test_per_class_larger_than_a_class_names_it_with_its_count(tmp_path):
    data = write_folder(tmp_path / "imgs", classes=3, per_class=10)
    for f in sorted((data / "class_2").iterdir())[5:]:
        f.unlink()
    ds = load_folder(data, 32)
    with pytest.warns(DataWarning) as caught:
        splits = make_splits(ds, None, 8, 0.0, seed=0)
    (message,) = [str(w.message) for w in caught]
    assert message == ("--per-class 8 is more than 1 class(es) have ('class_2' has 4 training "
                       "images); they train on all they have")
    assert splits.train.class_counts() == {"class_0": 8, "class_1": 8, "class_2": 4}


def test_budget_that_fits_every_class_warns_nothing(tmp_path):
    ds = load_folder(write_folder(tmp_path / "imgs", classes=2, per_class=10), 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        make_splits(ds, None, 5, 0.0, seed=0)


def test_class_whose_every_file_is_bad_is_an_error_naming_it(tmp_path):
    data = write_folder(tmp_path / "imgs", classes=2, per_class=4)
    broken = data / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    ds = load_folder(data, 32)
    with pytest.raises(DataError, match="class\\(es\\) 'broken' have no usable training images"):
        make_splits(ds, None, None, 0.0, seed=0)


def semicolon_csv(tmp_path: Path, rows: list[str]) -> Path:
    write_folder(tmp_path / "d", classes=2, per_class=3)
    path = tmp_path / "d" / "train.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_semicolon_csv_of_images_is_read_as_images(tmp_path):
    rows = ["path;label"] + [f"class_{c}/img_{i:03d}.png;c{c}" for c in range(2) for i in range(3)]
    path = semicolon_csv(tmp_path, rows)
    assert not is_text_source(path)
    ds = load_dataset(str(path), "train", 32)
    assert ds.classes == ["c0", "c1"] and len(ds) == 6 and not ds.skipped


def test_nan_and_inf_regression_targets_are_bad_rows_one_line_each(tmp_path):
    write_folder(tmp_path / "d", classes=1, per_class=4)
    rows = ["path,target", "class_0/img_000.png,1.5", "class_0/img_001.png,nan",
            "class_0/img_002.png,inf", "class_0/img_003.png,-Infinity"]
    path = tmp_path / "d" / "y.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load_csv(path, 32, task="regression")
    assert ds.labels.tolist() == [1.5]
    fix = "is not a finite number; give a real value or remove the row"
    assert {b.path: b.reason for b in ds.skipped} == {
        f"{path}:3": f"target 'nan' {fix}", f"{path}:4": f"target 'inf' {fix}",
        f"{path}:5": f"target '-Infinity' {fix}"}


def test_semicolon_regression_csv_with_decimal_commas_says_so(tmp_path):
    write_folder(tmp_path / "d", classes=1, per_class=2)
    path = tmp_path / "d" / "y.csv"
    path.write_text("class_0/img_000.png;1.5\nclass_0/img_001.png;2,5\n")
    ds = load_csv(path, 32, task="regression")
    assert ds.labels.tolist() == [1.5]
    assert [(b.path, b.reason) for b in ds.skipped] == [
        (f"{path}:2", "target '2,5' is not a number (decimal comma? write 1.5, not 1,5)")]


def test_nan_text_regression_target_is_a_bad_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,target\ngood one,1.0\nbad one,nan\nworse one,inf\n")
    ds = load_text_csv(path, task="regression")
    assert ds.labels.tolist() == [1.0]
    assert [b.path for b in ds.skipped] == [f"{path}:3", f"{path}:4"]
    assert all("is not a finite number" in b.reason for b in ds.skipped)


def test_fit_cli_lists_nan_targets_in_one_line_each(tmp_path):
    write_folder(tmp_path / "d", classes=1, per_class=3)
    path = tmp_path / "d" / "y.csv"
    path.write_text("class_0/img_000.png,1\nclass_0/img_001.png,nan\nclass_0/img_002.png,inf\n")
    proc = cli("fit", "--data", path, "--task", "regression", "--on-bad-file", "error",
               "--device", "cpu", "--out", tmp_path / "runs")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"  {path}:2: target 'nan' is not a finite number" in proc.stderr
    assert f"  {path}:3: target 'inf' is not a finite number" in proc.stderr


def test_fit_cli_prints_the_empty_class_warning_as_one_plain_line(tmp_path):
    data = write_folder(tmp_path / "imgs", classes=2, per_class=3)
    (data / "empty").mkdir()
    (data / "class_0" / "zero.png").write_bytes(b"")  # --on-bad-file error stops before training
    proc = cli("fit", "--data", data, "--on-bad-file", "error", "--device", "cpu",
               "--out", tmp_path / "runs")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == (f"warning: {data / 'empty'}: empty class folder (no image files); "
                        "left out, not a class with 0 images")
    assert lines[1] == "error: 1 bad input file(s):"
