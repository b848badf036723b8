"""Review findings on the data side: cache races and write failures, CSV and folder edge cases,
distributed decoding order and training-hash reuse.

Each test points TRANSFERLAB_CACHE at its own folder, so no test's cache satisfies another's.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import transferlab.data.cache as cache
from tests.conftest import write_folder
from transferlab.data.cache import FileInfo, build_entry, open_entry
from transferlab.data.files import load_csv, load_folder
from transferlab.data.listing import DataWarning, resolve_row
from transferlab.data.text_files import load_text_folder
from transferlab.errors import DataError


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("TRANSFERLAB_CACHE", str(root))
    return root


def _decode(path: Path, size: int) -> np.ndarray:
    return np.full((size, size, 3), int(path.name), dtype=np.uint8)


# -- 1: two writers publishing one key ----------------------------------------------------------
def test_two_writers_of_one_key_both_get_a_readable_entry(monkeypatch):
    """The writer that loses the rename uses the winner's entry and never deletes it.

    open_entry and rmtree are slowed down (a large entry takes a while to delete) and the
    writers start 60 ms apart, so that a check-then-delete publisher (the old one) deletes the
    entry another writer has just renamed into place before that writer reads it back.
    """
    real_open, real_rmtree = cache.open_entry, shutil.rmtree

    def slow_rmtree(path, *args, **kw):
        real_rmtree(path, *args, **kw)
        time.sleep(0.05)

    def slow_open(key):
        time.sleep(0.025)
        entry = real_open(key)
        time.sleep(0.025)
        return entry

    monkeypatch.setattr(cache, "open_entry", slow_open)
    monkeypatch.setattr(shutil, "rmtree", slow_rmtree)
    paths = [Path(str(i)) for i in range(4)]
    infos = [FileInfo(f"d{i}", 8, 8, "RGB") for i in range(4)]
    key = cache.content_key(infos, 8)
    start = threading.Barrier(4)
    results, errors = [], []

    def writer(i: int) -> None:
        start.wait()
        time.sleep(0.06 * i)
        try:
            results.append(build_entry(key, paths, infos, 8, _decode))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 4
    for entry in results:
        pixels = np.fromfile(entry.data_file, dtype=np.uint8).reshape(entry.shape)
        assert [int(p[0, 0, 0]) for p in pixels] == [0, 1, 2, 3]
    assert sorted(p.name for p in cache.entries_dir().iterdir()) == [key]  # no leftovers


def test_a_damaged_entry_is_replaced_by_the_next_writer():
    paths = [Path("7")]
    infos = [FileInfo("d7", 8, 8, "RGB")]
    key = cache.content_key(infos, 8)
    damaged = cache.entries_dir() / key
    damaged.mkdir(parents=True)
    (damaged / "meta.json").write_text("{not json")
    entry = build_entry(key, paths, infos, 8, _decode)
    assert open_entry(key) == entry and entry.shape == (1, 3, 8, 8)
    assert sorted(p.name for p in cache.entries_dir().iterdir()) == [key]


# -- 3: a cache that cannot be written ----------------------------------------------------------
def test_unwritable_cache_is_a_data_error_naming_the_folder_and_the_fix(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    monkeypatch.setenv("TRANSFERLAB_CACHE", str(blocker / "sub"))
    root = write_folder(tmp_path / "imgs", classes=2, per_class=2, size=16)
    with pytest.warns(UserWarning, match="cannot save the scan record"):
        with pytest.raises(DataError) as err:
            load_folder(root, size=None)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"decode cache {blocker / 'sub' / 'decoded'}: cannot write (")
    assert msg.endswith("free space or set TRANSFERLAB_CACHE to a writable folder")
    assert blocker.read_text() == "a file, not a folder"


def test_cli_prints_the_unwritable_cache_error_and_exits_2(tmp_path, monkeypatch, capsys):
    from transferlab.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("TRANSFERLAB_CACHE", str(blocker / "sub"))
    root = write_folder(tmp_path / "imgs", classes=2, per_class=4, size=16)
    with pytest.warns(UserWarning, match="cannot save the scan record"):
        code = main(["fit", "--data", str(root), "--device", "cpu",
                     "--out", str(tmp_path / "runs")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error: ")]
    assert code == 2 and len(err) == 1
    assert err[0].endswith("free space or set TRANSFERLAB_CACHE to a writable folder")


# -- 4, 5: CSV rows the csv module or the file system refuse; `..name` is a plain name ----------
def _image_csv(root: Path, extra: str) -> Path:
    root.mkdir(parents=True)
    for i in range(6):
        Image.fromarray(np.full((16, 16, 3), 30 * i, np.uint8)).save(root / f"{i}.png")
    csv_file = root / "data.csv"
    csv_file.write_text("path,label\n" + "".join(f"{i}.png,{'ab'[i % 2]}\n" for i in range(6))
                        + extra)
    return csv_file


def test_csv_field_over_the_size_limit_is_a_data_error_with_path_and_line(tmp_path):
    csv_file = _image_csv(tmp_path / "d", '"' + "x" * 200_000 + '.png",a\n')
    with pytest.raises(DataError) as err:
        load_csv(csv_file)
    assert str(err.value) == (f"{csv_file}:8: not a readable CSV (field larger than field limit "
                              "(131072)); fix that line (quote paths that contain the delimiter "
                              "or quotes)")


def test_csv_cell_with_a_nul_byte_is_a_bad_row_with_a_reason(tmp_path):
    csv_file = _image_csv(tmp_path / "d", "a\x00b.png,a\n")
    data = load_csv(csv_file)
    assert len(data) == 6
    assert [(b.path, b.reason) for b in data.skipped] == [
        (f"{csv_file}:8 {csv_file.parent}/a\x00b.png",
         "cannot resolve the path (embedded null byte)")]


def test_a_file_named_dotdot_something_is_not_called_a_climb_out(tmp_path):
    outside = tmp_path / "elsewhere.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(outside)
    csv_file = _image_csv(tmp_path / "d", "..foo.png,a\n")
    (tmp_path / "d" / "..foo.png").symlink_to(outside)
    _, reason = resolve_row("..foo.png", csv_file.parent.resolve(), allow_outside=False)
    assert reason is not None and reason.startswith(f"symbolic link to {outside} is outside")
    _, reason = resolve_row("../elsewhere.png", csv_file.parent.resolve(), allow_outside=False)
    assert reason is not None and reason.startswith("path '../elsewhere.png' climbs out to")


# -- 6: an empty class folder of a text folder is left out, as for images -----------------------
def test_empty_text_class_folder_is_warned_about_and_left_out(tmp_path):
    root = tmp_path / "texts"
    for name in ("sport", "weather"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            (root / name / f"{i}.txt").write_text(f"{name} text number {i}")
    (root / "aaa_empty").mkdir()
    with pytest.warns(DataWarning) as caught:
        data = load_text_folder(root, on_bad="error")  # a left-out folder is no bad file
    assert [str(w.message) for w in caught] == [
        f"{root / 'aaa_empty'}: empty class folder (no text files); left out, not a class with "
        "0 texts"]
    assert data.classes == ["sport", "weather"] and len(data) == 6
    assert [b.path for b in data.skipped] == [str(root / "aaa_empty")]


# -- 2: under torchrun rank 0 decodes first, the other ranks read its warm cache ----------------
@pytest.mark.parametrize("main", [True, False])
def test_distributed_prepare_data_decodes_on_rank_0_before_the_others(monkeypatch, main):
    import transferlab.api.runner as runner

    order = []
    monkeypatch.setattr(runner.dist, "is_distributed", lambda: True)
    monkeypatch.setattr(runner.dist, "is_main", lambda: main)
    monkeypatch.setattr(runner.dist, "broadcast_object", lambda obj: order.append("wait"))
    monkeypatch.setattr(runner, "_prepare_data", lambda cfg, log: order.append("load") or "S")
    assert runner.prepare_data(object(), log=print) == "S"
    assert order == (["load", "wait"] if main else ["wait", "load"])


# -- 7: a compare hashes its training images once, not once per strategy ------------------------
def test_training_hashes_are_computed_once_per_splits_and_written_to_each_run(tmp_path,
                                                                               monkeypatch):
    import transferlab.results.overlap as overlap
    from transferlab.data import make_splits
    from transferlab.results.runfolder import RunFolder

    root = write_folder(tmp_path / "imgs", classes=2, per_class=10, size=16)
    splits = make_splits(load_folder(root, size=None), None, None, 0.1, 0)
    calls = []
    real = overlap.image_hashes
    monkeypatch.setattr(overlap, "image_hashes", lambda images, n: calls.append(n) or real(
        images, n))
    runs = [tmp_path / "runs" / s for s in ("linear_probe", "full_finetune")]
    for run in runs:
        run.mkdir(parents=True)
        overlap.save_training_hashes(run, splits)
    parts = [p for p in (splits.train, splits.val) if p is not None]
    assert calls == [len(p) for p in parts]  # hashed once, for the first run only
    first, second = (RunFolder(r).read_hashes() for r in runs)
    assert np.array_equal(first[0], second[0]) and first[1] == second[1] == (3, 16, 16)
    assert len(first[0]) == sum(calls)
    splits.train = splits.train.subset(torch.arange(4))  # a replaced split is hashed anew
    overlap.save_training_hashes(runs[0], splits)
    assert calls[len(parts):][:1] == [4]


# -- 8: threads opening a file-backed image store at once share one descriptor -----------------
def test_row_file_opened_by_many_threads_at_once_opens_one_descriptor(tmp_path, monkeypatch):
    import os

    from transferlab.data.diskimages import _RowFile

    data = tmp_path / "images.u8"
    data.write_bytes(bytes(64))
    opened, real_open = [], os.open

    def slow_open(path, *args, **kw):
        fd = real_open(path, *args, **kw)
        if str(path) == str(data):
            opened.append(fd)
            time.sleep(0.05)  # every thread is past the "not open yet" check by now
        return fd

    monkeypatch.setattr(os, "open", slow_open)
    rows, start, got = _RowFile(data), threading.Barrier(8), []

    def first_read() -> None:
        start.wait()
        got.append(rows.fd())

    threads = [threading.Thread(target=first_read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 1 and got == opened * 8
