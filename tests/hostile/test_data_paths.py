"""Confinement: a CSV row or a symbolic link may not make training (or predict) read a file
outside the data folder, and such a file is never even opened; broken links are listed.

The outside file in these tests is a valid PNG of a colour no dataset image has, so "not used"
is checked on the decoded pixels too, and an audit hook proves it was never opened.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import write_folder
from tests.hostile.clihelp import cli
from transferlab.data import load_dataset
from transferlab.data.files import load_csv, load_folder
from transferlab.deploy.serving import collect_inputs
from transferlab.errors import DataError

MAGENTA = (255, 0, 255)
OPENED: list[str] = []  # paths opened while a test watches, filled by the audit hook
WATCHING: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    if WATCHING and event == "open" and args and isinstance(args[0], str | bytes | Path):
        OPENED.append(str(args[0] if not isinstance(args[0], bytes) else args[0].decode()))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it only records while WATCHING


@contextmanager
def watch_opens():
    """Record every file opened inside the block (the test's own setup stays outside it)."""
    OPENED.clear()
    WATCHING.append(True)
    try:
        yield OPENED
    finally:
        WATCHING.clear()


def secret_png(tmp_path: Path) -> Path:
    """A valid 32x32 PNG outside the data folder: if it were used, its pixels would show."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "secret.png"
    Image.new("RGB", (32, 32), MAGENTA).save(path)
    return path


def csv_data(tmp_path: Path, extra_rows: list[str]) -> Path:
    data = write_folder(tmp_path / "data", classes=2, per_class=4)
    rows = ["path,label"] + [f"class_{c}/img_{i:03d}.png,c{c}" for c in range(2) for i in range(4)]
    csv_path = data / "train.csv"
    csv_path.write_text("\n".join(rows + extra_rows) + "\n")
    return csv_path


def has_magenta(images) -> bool:
    arr = np.asarray(images[torch.arange(len(images))]).astype(int)  # (N, C, H, W)
    pink = (arr[:, 0] > 200) & (arr[:, 1] < 60) & (arr[:, 2] > 200)
    return bool(pink.reshape(len(arr), -1).all(axis=1).any())


def test_csv_absolute_row_outside_is_refused_and_never_opened(tmp_path):
    secret = secret_png(tmp_path)
    csv_path = csv_data(tmp_path, [f"{secret},c0"])
    with watch_opens() as opened:
        ds = load_csv(csv_path, 32)
    assert len(ds) == 8 and not has_magenta(ds.images)
    bad = [b for b in ds.skipped if "secret.png" in b.path]
    assert len(bad) == 1 and bad[0].path.startswith(f"{csv_path}:10")
    assert "absolute path" in bad[0].reason and "outside the CSV's folder" in bad[0].reason
    assert "--allow-outside-paths" in bad[0].reason
    assert str(secret) not in opened


def test_csv_row_climbing_out_with_dotdot_is_refused(tmp_path):
    secret = secret_png(tmp_path).resolve()
    csv_path = csv_data(tmp_path, ["../outside/secret.png,c1"])
    with watch_opens() as opened:
        ds = load_csv(csv_path, 32)
    assert len(ds) == 8 and not has_magenta(ds.images)
    (bad,) = [b for b in ds.skipped if "secret.png" in b.path]
    assert "climbs out to" in bad.reason and str(secret) in bad.reason
    assert not any("secret.png" in p for p in opened)


def test_etc_hostname_row_is_listed_not_opened(tmp_path):
    csv_path = csv_data(tmp_path, ["/etc/hostname,c0"])
    with watch_opens() as opened, pytest.raises(DataError) as err:
        load_csv(csv_path, 32, on_bad="error")
    assert "/etc/hostname" in str(err.value) and "outside the CSV's folder" in str(err.value)
    assert "/etc/hostname" not in opened


def test_allow_outside_paths_reads_the_row(tmp_path):
    secret = secret_png(tmp_path)
    csv_path = csv_data(tmp_path, [f"{secret},c0"])
    ds = load_dataset(str(csv_path), "train", 32, allow_outside=True)
    assert len(ds) == 9 and has_magenta(ds.images) and str(secret) in ds.paths


def test_folder_symlink_leading_outside_is_listed_and_not_opened(tmp_path):
    secret = secret_png(tmp_path).resolve()
    data = write_folder(tmp_path / "data", classes=2, per_class=3)
    link = data / "class_0" / "link.png"
    link.symlink_to(secret)
    with watch_opens() as opened:
        ds = load_folder(data, 32)
    assert len(ds) == 6 and not has_magenta(ds.images)
    (bad,) = [b for b in ds.skipped if b.path == str(link)]
    assert bad.reason.startswith(f"symbolic link to {secret} is outside the data folder")
    assert str(secret) not in opened
    allowed = load_folder(data, 32, allow_outside=True)
    assert len(allowed) == 7 and has_magenta(allowed.images)


def test_broken_symlink_is_listed_not_dropped(tmp_path):
    data = write_folder(tmp_path / "data", classes=2, per_class=3)
    link = data / "class_1" / "gone.png"
    link.symlink_to(data / "class_1" / "deleted.png")
    ds = load_folder(data, 32)
    (bad,) = [b for b in ds.skipped if b.path == str(link)]
    assert bad.reason.startswith("broken symbolic link")
    assert len(ds) == 6


def test_symlink_inside_the_data_folder_is_used(tmp_path):
    data = write_folder(tmp_path / "data", classes=2, per_class=3)
    (data / "class_1" / "again.png").symlink_to(data / "class_1" / "img_000.png")
    ds = load_folder(data, 32)
    assert len(ds) == 7 and not ds.skipped


def test_fit_cli_lists_outside_row_and_allow_flag_lifts_it(tmp_path):
    secret = secret_png(tmp_path)
    csv_path = csv_data(tmp_path, [f"{secret},c0", "class_0/empty.png,c0"])
    (csv_path.parent / "class_0" / "empty.png").write_bytes(b"")
    common = ["fit", "--data", csv_path, "--on-bad-file", "error", "--device", "cpu",
              "--out", tmp_path / "runs"]
    proc = cli(*common)  # refused rows are listed before any image is decoded
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "1 bad input file(s)" in proc.stderr
    assert f"{csv_path}:10 {secret}: absolute path" in proc.stderr
    proc = cli(*common, "--allow-outside-paths")
    assert proc.returncode == 2 and "1 bad input file(s)" in proc.stderr, proc.stderr
    assert "empty.png" in proc.stderr and "secret.png" not in proc.stderr


def test_predict_reads_listed_files_anywhere_and_names_broken_links(tmp_path):
    """Predict inputs are the user's own list (nothing read goes into a model or report), so
    CSV rows may name files anywhere; a broken link is an error row, not silently dropped."""
    secret = secret_png(tmp_path)
    folder = write_folder(tmp_path / "data", classes=1, per_class=1)
    (folder / "class_0" / "gone.png").symlink_to(folder / "class_0" / "deleted.png")
    listing = folder / "list.csv"
    listing.write_text(f"path\n{secret}\n../outside/secret.png\nclass_0/gone.png\n")
    rows = collect_inputs([listing, folder / "class_0"])
    assert [r.path for r in rows[:2]] == [secret, folder / "../outside/secret.png"]
    assert rows[0].error is None and rows[1].error is None
    assert rows[2].path is None and rows[2].error.startswith("broken symbolic link")
    assert [(Path(r.name).name, r.error is None) for r in rows[3:]] == [
        ("gone.png", False), ("img_000.png", True)]


def test_text_folder_link_leading_outside_is_listed_and_not_read(tmp_path):
    from transferlab.data.text_files import load_text_folder

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("a private note")
    for c in ("pos", "neg"):
        (tmp_path / "texts" / c).mkdir(parents=True)
        for i in range(2):
            (tmp_path / "texts" / c / f"{i}.txt").write_text(f"{c} text {i}")
    link = tmp_path / "texts" / "pos" / "leak.txt"
    link.symlink_to(outside / "secret.txt")
    with watch_opens() as opened:
        ds = load_text_folder(tmp_path / "texts")
    assert len(ds) == 4 and "a private note" not in ds.texts
    (bad,) = ds.skipped
    assert bad.path == str(link) and "outside the data folder" in bad.reason
    assert not any("secret.txt" in p for p in opened)


def test_split_folders_may_link_into_their_shared_dataset_folder(tmp_path):
    pool = write_folder(tmp_path / "ds" / "pool", classes=2, per_class=3)
    for split in ("train", "test"):
        for c in range(2):
            d = tmp_path / "ds" / split / f"class_{c}"
            d.mkdir(parents=True)
            for f in sorted((pool / f"class_{c}").iterdir()):
                (d / f.name).symlink_to(f)
    ds = load_dataset(str(tmp_path / "ds"), "train", 32)
    assert len(ds) == 6 and not ds.skipped
