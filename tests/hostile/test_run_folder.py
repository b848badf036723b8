"""Run folders are confined: names cannot leave --out, checkpoint pointers cannot leave their
folder, `--resume` deletes nothing outside the run and refuses flags that contradict it; a
finished run keeps its model, prunes its checkpoints and says what each class trained on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import write_folder
from tests.hostile.clihelp import cli, one_line_error, snapshot
from transferlab.engine.checkpoint import (
    load_checkpoint,
    prune_checkpoints,
    read_pointer,
    save_checkpoint,
)
from transferlab.errors import CheckpointError

FIT = ["fit", "--strategy", "head", "--image-size", "32", "--epochs", "1", "--batch-size", "8",
       "--device", "cpu"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runfolder")


@pytest.fixture(scope="module")
def data(root) -> Path:
    return write_folder(root / "imgs", classes=3, per_class=12)


@pytest.fixture(scope="module")
def default_run(root, data) -> tuple[Path, str]:
    """A fit with no --per-class and no --keep-checkpoints: the defaults a user gets."""
    proc = cli(*FIT, "--data", data, "--out", root / "runs", "--name", "plain")
    assert proc.returncode == 0, proc.stderr
    return root / "runs" / "plain", proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def kept_run(root, data) -> Path:
    proc = cli(*FIT, "--data", data, "--out", root / "runs", "--name", "kept",
               "--keep-checkpoints")
    assert proc.returncode == 0, proc.stderr
    return root / "runs" / "kept"


def _copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest, symlinks=True)
    return dest


# -- run names --------------------------------------------------------------------------------


def test_name_with_dotdot_cannot_write_outside_out(tmp_path, data):
    out = tmp_path / "runs"
    line = one_line_error(cli(*FIT, "--data", data, "--out", out, "--name", "../x"))
    assert line.startswith("error: --name ../x: a run name must be one folder name inside --out")
    assert not (tmp_path / "x").exists() and not out.exists()


def test_absolute_name_cannot_write_outside_out(tmp_path, data, capsys):
    from transferlab.cli import main

    target = tmp_path / "elsewhere"
    assert main([*FIT, "--data", str(data), "--out", str(tmp_path / "runs"),
                 "--name", str(target)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --name {target}: a run name must be")
    assert not target.exists() and not (tmp_path / "runs").exists()


# -- checkpoint pointers ----------------------------------------------------------------------


def _outside_checkpoint(run: Path, dest: Path) -> Path:
    """A real checkpoint folder outside the run, rewound to step 0 so a resume would train (and,
    before the fix, then delete it as the 'previous' checkpoint), plus a file the user owns."""
    ckpt = run / "checkpoint"
    shutil.copytree(ckpt / read_pointer(ckpt), dest)
    state = torch.load(dest / "state.pt", weights_only=True)
    state["progress"].update(phase=0, epoch=0, batch=0, global_step=0, history=[],
                             best_metric=None, bad_epochs=0)
    torch.save(state, dest / "state.pt")
    (dest / "precious.txt").write_text("the user's own file")
    return dest


def test_crafted_pointer_is_not_loaded_and_resume_deletes_nothing_outside(kept_run, tmp_path):
    run = _copy_run(kept_run, tmp_path / "run")
    elsewhere = _outside_checkpoint(run, tmp_path / "elsewhere")
    before = snapshot(elsewhere)
    (run / "checkpoint" / "LATEST").write_text("../../elsewhere")
    line = one_line_error(cli("fit", "--resume", run))
    assert line == (f"error: {run / 'checkpoint' / 'LATEST'} points to '../../elsewhere', not a "
                    f"ckpt-* folder inside {run / 'checkpoint'}; refusing to load or delete it: "
                    f"restore the pointer or delete {run / 'checkpoint' / 'LATEST'} and fit anew")
    assert snapshot(elsewhere) == before  # every file outside, byte for byte


def test_pointer_through_a_symlink_is_refused_and_its_target_kept(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data.bin").write_bytes(b"keep me")
    root = tmp_path / "checkpoint"
    root.mkdir()
    (root / "ckpt-00000001-0-0").symlink_to(outside, target_is_directory=True)
    (root / "LATEST").write_text("ckpt-00000001-0-0")
    with pytest.raises(CheckpointError, match="refusing to load or delete"):
        load_checkpoint(root)
    progress = {"global_step": 2, "phase": 0, "epoch": 1}
    save_checkpoint(root, torch.nn.Linear(2, 2), None, progress, None)  # moves LATEST on
    assert read_pointer(root) == "ckpt-00000002-0-1"
    assert (outside / "data.bin").read_bytes() == b"keep me"


def test_prune_removes_only_what_checkpointing_wrote(tmp_path):
    root = tmp_path / "checkpoint"
    save_checkpoint(root, torch.nn.Linear(2, 2), None, {"global_step": 1, "phase": 0,
                                                        "epoch": 0}, None)
    (root / "notes.txt").write_text("mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "ckpt-link").symlink_to(outside, target_is_directory=True)
    prune_checkpoints(root)
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
    assert outside.is_dir()


# -- resume -----------------------------------------------------------------------------------


def test_resume_refuses_a_flag_that_conflicts_with_the_saved_config(kept_run, tmp_path):
    run = _copy_run(kept_run, tmp_path / "run")
    before = snapshot(run)
    line = one_line_error(cli("fit", "--resume", run, "--lr", "0.1", "--epochs", "1"))
    assert line == (f"error: --lr 0.1 conflicts with the saved lr unset (chosen automatically) "
                    f"of {run / 'config.yaml'}; resume takes no training flags (or repeat the "
                    "same values)")
    assert snapshot(run) == before


def test_resume_names_every_conflicting_flag(kept_run, tmp_path):
    run = _copy_run(kept_run, tmp_path / "run")
    line = one_line_error(cli("fit", "--resume", run, "--epochs", "5", "--strategy", "finetune"))
    assert f"--epochs 5 conflicts with the saved epochs 1 of {run / 'config.yaml'}" in line
    assert "--strategy finetune conflicts with the saved strategy head of " in line


def test_resume_with_the_same_values_goes_on(kept_run, tmp_path):
    run = _copy_run(kept_run, tmp_path / "run")
    proc = cli("fit", "--resume", run, "--epochs", "1", "--strategy", "head", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "resuming at phase 1" in proc.stdout + proc.stderr


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    folder = tmp_path / "notarun"
    folder.mkdir()
    (folder / "config.yaml").write_text("colour: blue\n")  # some other tool's file
    line = one_line_error(cli("fit", "--resume", folder))
    assert line.startswith(f"error: {folder / 'config.yaml'} is not a config this version can "
                           "resume (")
    assert line.endswith("; start a new fit")


def test_resume_of_a_missing_folder(tmp_path):
    line = one_line_error(cli("fit", "--resume", tmp_path / "nope"))
    assert line == (f"error: --resume {tmp_path / 'nope'}: no such folder; pass the run folder "
                    "an interrupted fit printed as `run folder: ...`")


def test_resume_of_a_finished_run_says_there_is_nothing_to_resume(default_run):
    run, _ = default_run
    line = one_line_error(cli("fit", "--resume", run))
    assert line == (f"error: --resume {run}: the run finished (model.safetensors saved) and "
                    "its checkpoints were pruned; nothing to resume, start a new fit")


# -- defaults ---------------------------------------------------------------------------------


def test_own_data_trains_on_all_images_by_default(default_run):
    run, _ = default_run
    saved = yaml.safe_load((run / "config.yaml").read_text())["config"]
    assert saved["per_class"] == 0  # resolved: all of the user's images
    counts = json.loads((run / "data.json").read_text())["train"]["class_counts"]
    test = json.loads((run / "data.json").read_text())["test"]["images"]
    assert sum(counts.values()) + test == 36  # nothing left out but the held-out test images


def test_run_log_says_how_many_images_each_class_trains_on(default_run):
    run, log = default_run
    counts = json.loads((run / "data.json").read_text())["train"]["class_counts"]
    expected = ", ".join(f"{c} {n}" for c, n in counts.items())
    assert f"train per class: {expected}\n" in log
    assert expected.startswith("class_0 ")


def test_finished_run_keeps_its_model_and_prunes_checkpoints(default_run):
    run, _ = default_run
    assert (run / "model.safetensors").is_file()
    assert not (run / "checkpoint").exists()


def test_keep_checkpoints_keeps_them(kept_run):
    assert read_pointer(kept_run / "checkpoint").startswith("ckpt-")
    assert yaml.safe_load((kept_run / "config.yaml").read_text())["config"]["keep_checkpoints"]
