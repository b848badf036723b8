"""Checkpoints that survive being killed at any instant.

Each checkpoint is a new folder `ckpt-<step>/` (weights as safetensors, optimizer and progress as a
weights-only torch file); only when it is complete does the `LATEST` pointer move to it, by an
atomic rename. A kill during a write leaves the previous checkpoint intact and pointed to.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from transferlab.errors import CheckpointError

POINTER = "LATEST"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_checkpoint(root: Path, model: torch.nn.Module, optimizer_state: dict | None,
                    progress: dict, best_state: dict[str, torch.Tensor] | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{progress['global_step']:08d}-{progress['phase']}-{progress['epoch']}"
    target = root / name
    tmp = root / (name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_cpu_state(model), str(tmp / "model.safetensors"))
    if best_state is not None:
        save_file(best_state, str(tmp / "best.safetensors"))
    torch.save({"optimizer": optimizer_state, "progress": progress}, tmp / "state.pt")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    previous = read_pointer(root)
    _atomic_write_text(root / POINTER, name)
    if previous and previous != name:
        shutil.rmtree(root / previous, ignore_errors=True)
    return target


def read_pointer(root: Path) -> str | None:
    p = root / POINTER
    return p.read_text().strip() if p.is_file() else None


def load_checkpoint(root: Path) -> tuple[dict, dict | None, dict, dict | None]:
    """(model state, optimizer state, progress, best state) of the latest complete checkpoint."""
    name = read_pointer(root)
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


def progress_summary(progress: dict) -> str:
    return json.dumps({k: progress[k] for k in ("phase", "epoch", "batch", "global_step")})
