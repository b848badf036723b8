"""Checkpoints that survive being killed at any instant.

Each checkpoint is a new folder `ckpt-<step>/` (weights as safetensors, optimizer and progress as a
weights-only torch file); only when it is complete does the `LATEST` pointer move to it, by an
atomic rename. A kill during a write leaves the previous checkpoint intact and pointed to.

`LATEST` is a file anyone can edit, so it is trusted no further than its folder: a pointer must
name a real `ckpt-*` folder directly inside the checkpoint folder (no `..`, no `/`, no symbolic
link out). A pointer that does not is refused for loading and never followed for deletion; the
only things this module ever deletes are entries it names itself inside the checkpoint folder.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from transferlab.errors import CheckpointError

POINTER = "LATEST"
CKPT_NAME = re.compile(r"ckpt-[A-Za-z0-9_.-]+")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _remove(path: Path) -> None:
    """Delete one entry of the checkpoint folder; a symbolic link goes, never what it points to."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _check_root(root: Path) -> None:
    if root.is_symlink():
        raise CheckpointError(f"{root} is a symbolic link; a checkpoint folder must be a real "
                              "folder inside its run folder: remove the link")


def save_checkpoint(root: Path, model: torch.nn.Module, optimizer_state: dict | None,
                    progress: dict, best_state: dict[str, torch.Tensor] | None) -> Path:
    _check_root(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{progress['global_step']:08d}-{progress['phase']}-{progress['epoch']}"
    target = root / name
    tmp = root / (name + ".partial")
    _remove(tmp)
    tmp.mkdir()
    save_file(_cpu_state(model), str(tmp / "model.safetensors"))
    if best_state is not None:
        save_file(best_state, str(tmp / "best.safetensors"))
    torch.save({"optimizer": optimizer_state, "progress": progress}, tmp / "state.pt")
    _remove(target)
    tmp.rename(target)
    previous = pointed_folder(root)  # None when the pointer is missing or points outside
    _atomic_write_text(root / POINTER, name)
    if previous is not None and previous.name != name:
        _remove(previous)
    return target


def read_pointer(root: Path) -> str | None:
    p = root / POINTER
    return p.read_text().strip() if p.is_file() else None


def pointed_folder(root: Path) -> Path | None:
    """The checkpoint folder `LATEST` names, only if it is a real folder directly in `root`."""
    try:
        checked_pointer(root)
    except CheckpointError:
        return None
    name = read_pointer(root)
    return root / name if name and (root / name).is_dir() else None


def checked_pointer(root: Path) -> str | None:
    """The pointer's folder name; CheckpointError when it names anything outside `root`."""
    _check_root(root)
    name = read_pointer(root)
    if name is None:
        return None
    folder = root / name
    inside = (CKPT_NAME.fullmatch(name) is not None and name not in (".", "..")
              and not folder.is_symlink()
              and folder.resolve().parent == root.resolve())
    if not inside:
        raise CheckpointError(
            f"{root / POINTER} points to {name!r}, not a ckpt-* folder inside {root}; refusing "
            f"to load or delete it: restore the pointer or delete {root / POINTER} and fit anew")
    return name


def load_checkpoint(root: Path) -> tuple[dict, dict | None, dict, dict | None]:
    """(model state, optimizer state, progress, best state) of the latest complete checkpoint."""
    name = checked_pointer(root)
    if name is None or not (root / name).is_dir():
        raise CheckpointError(
            f"no checkpoint to resume in {root}; start the run without --resume"
        )
    folder = root / name
    try:
        model = load_file(str(folder / "model.safetensors"))
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        best = (load_file(str(folder / "best.safetensors"))
                if (folder / "best.safetensors").is_file() else None)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {folder} is unreadable: {exc}") from exc
    return model, state["optimizer"], state["progress"], best


def prune_checkpoints(root: Path) -> None:
    """Delete a finished run's checkpoint folder: only entries this module wrote, links unfollowed.

    Anything else found there (a user's file, a folder under another name) is left, and so is
    the folder then.
    """
    if not root.is_dir() or root.is_symlink():
        return
    for entry in root.iterdir():
        if entry.name == POINTER or CKPT_NAME.fullmatch(entry.name.removesuffix(".partial")) \
                or entry.name.startswith(POINTER + ".tmp"):
            _remove(entry)
    if not any(root.iterdir()):
        root.rmdir()

