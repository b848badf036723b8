"""The run folder: its file names and formats, written and read in this one module.

`fit`, `compare`, `rank`, the trainer, `report`, `export` and `evaluate` all meet in a run folder,
so the format must have one owner: a writer and a reader that cannot drift apart, and readers
that need no guessing about which shape a file was written in. What a run folder holds:

  config.yaml       {"config": <RunConfig fields>, <section>: ...}: the settings under `config`,
                    always; fit adds recipe, phases, param_groups, preprocess and weights, rank
                    adds `rank` (its candidates, estimators and order)
  data.json         DataSplits.summary(): sources, class counts, skipped files, warnings
  metrics.json      {"strategy", "test": <metrics>, "wall_seconds", "environment"}
  history.jsonl     one JSON object per epoch, appended by the trainer as it goes
  predictions.npz   y_true, y_pred (+ confidence, wrong_index, wrong_images when classifying)
  comparison.json   a compare run's table (ComparisonReport.to_dict())
  ranking.json      a rank run's table (RankingReport.to_dict()); also fit --backbone auto
  train_hashes.npz  hashes + shape of the training images (results/overlap.py computes them)
  model.safetensors, checkpoint/, report.html, plots/: written by their own modules

A reader given `required=True` raises a one-line CheckpointError naming the missing file; with
`required=False` a missing file reads as empty (a report is often made from a run that stopped
early). A file that is there but unreadable is always an error naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from transferlab.config import RunConfig
from transferlab.errors import CheckpointError, ConfigError

CONFIG = "config.yaml"
DATA = "data.json"
METRICS = "metrics.json"
HISTORY = "history.jsonl"
PREDICTIONS = "predictions.npz"
COMPARISON = "comparison.json"
RANKING = "ranking.json"
HASHES = "train_hashes.npz"
MODEL = "model.safetensors"
CHECKPOINT = "checkpoint"
SETTINGS = "config"  # the config.yaml key holding the RunConfig fields


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a killed run never leaves half a file."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _missing(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: no such file; {what}")


def write_json(path: Path, data: Any) -> Path:
    _atomic_write(path, json.dumps(data, indent=2) + "\n")
    return path


def read_json(path: Path, required: bool = True, what: str = "not a complete run folder") -> Any:
    """The parsed file; None when it is missing and not `required`."""
    if not path.is_file():
        if required:
            raise _missing(path, what)
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); fix or delete it") from None


# -- history.jsonl (by file path: the trainer is handed the path and appends as it trains) ----
def append_history(path: Path, row: dict) -> None:
    """One epoch's row, appended and flushed so a killed run keeps every finished epoch."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def write_history(path: Path, rows: Iterable[dict]) -> None:
    """Replace the history (a resumed run restarts it from what its checkpoint knew)."""
    _atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows))


def read_history(path: Path) -> list[dict]:
    """The rows; missing file = no rows, and a half-written line (a killed run) is dropped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class RunFolder:
    """One run folder (or one strategy's sub-folder of a compare run) and its files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    # -- config.yaml ------------------------------------------------------------------------
    def write_config(self, settings: dict, **sections: Any) -> Path:
        """config.yaml as {"config": settings, **sections}; the one shape every command writes."""
        data = json.loads(json.dumps({SETTINGS: settings, **sections}))  # tuples -> lists
        path = self.file(CONFIG)
        _atomic_write(path, yaml.safe_dump(data, sort_keys=False))
        return path

    def read_config(self, required: bool = True) -> dict:
        """The whole config.yaml; {} when it is missing and not `required`."""
        path = self.file(CONFIG)
        if not path.is_file():
            if required:
                raise _missing(path, "not a transferlab run folder")
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise CheckpointError(f"{path} is not a readable run config; restore it from the "
                                  "run or start a new fit")
        return data

    def settings(self, required: bool = True) -> dict:
        """The RunConfig fields under config.yaml's `config` key.

        Raises CheckpointError when `required` and they are missing; otherwise missing reads
        as {} (a report of a folder some other tool wrote).
        """
        data = self.read_config(required)
        section = data.get(SETTINGS)
        if isinstance(section, dict):
            return section
        if required:
            raise CheckpointError(f"{self.file(CONFIG)} has no `{SETTINGS}:` section")
        return {}

    # -- data.json, metrics.json ------------------------------------------------------------
    def write_data(self, summary: dict) -> Path:
        return write_json(self.file(DATA), summary)

    def read_data(self, required: bool = True) -> dict | None:
        return read_json(self.file(DATA), required)

    def write_metrics(self, strategy: str, test: dict, wall_seconds: float,
                      environment: dict) -> Path:
        return write_json(self.file(METRICS), {"strategy": strategy, "test": test,
                                               "wall_seconds": wall_seconds,
                                               "environment": environment})

    def read_metrics(self, required: bool = True) -> dict | None:
        data = read_json(self.file(METRICS), required, "the run has not finished")
        if data is not None and not isinstance(data, dict):
            raise CheckpointError(f"{self.file(METRICS)} is not a metrics file")
        return data

    def test_metrics(self, required: bool = True) -> dict | None:
        """metrics.json's `test` part: what the model scored on the held-out test set."""
        data = self.read_metrics(required)
        return None if data is None else data.get("test")

    # -- history.jsonl ----------------------------------------------------------------------
    def start_history(self) -> None:
        """A fresh (not resumed) run: forget rows a previous attempt left."""
        self.history_path.unlink(missing_ok=True)

    def append_history(self, row: dict) -> None:
        append_history(self.history_path, row)

    def write_history(self, rows: Iterable[dict]) -> None:
        write_history(self.history_path, rows)

    def read_history(self) -> list[dict]:
        return read_history(self.history_path)

    # -- predictions.npz --------------------------------------------------------------------
    def write_predictions(self, arrays: dict[str, np.ndarray]) -> Path:
        path = self.file(PREDICTIONS)
        np.savez_compressed(path, **arrays)
        return path

    def read_predictions(self, required: bool = True) -> dict[str, np.ndarray] | None:
        path = self.file(PREDICTIONS)
        if not path.is_file():
            if required:
                raise _missing(path, "the run has not finished")
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path} is not a readable predictions file ({exc}); "
                                  "delete it or re-run") from None

    # -- comparison.json, ranking.json ------------------------------------------------------
    def write_comparison(self, comparison: dict) -> Path:
        return write_json(self.file(COMPARISON), comparison)

    def read_comparison(self, required: bool = True) -> dict | None:
        return read_json(self.file(COMPARISON), required, "not a compare run folder")

    def write_ranking(self, ranking: dict) -> Path:
        return write_json(self.file(RANKING), ranking)

    def read_ranking(self, required: bool = True) -> dict | None:
        return read_json(self.file(RANKING), required, "not a rank run folder")

    # -- train_hashes.npz -------------------------------------------------------------------
    def write_hashes(self, hashes: np.ndarray, shape: tuple[int, ...]) -> Path:
        path = self.file(HASHES)
        np.savez(path, hashes=hashes, shape=np.array(shape, dtype=np.int64))
        return path

    def read_hashes(self) -> tuple[np.ndarray, tuple[int, ...]] | None:
        """(hashes, image shape), or None when missing or damaged: both only lose a warning."""
        path = self.file(HASHES)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                return z["hashes"], tuple(int(v) for v in z["shape"])
        except (OSError, ValueError, KeyError):
            return None


def saved_config(run_dir: str | Path) -> RunConfig:
    """The RunConfig a fit started with, for `fit --resume` (no flags need repeating).

    Checked before any data is decoded: the folder must be a fit run folder whose config.yaml
    this version can read, holding no symbolic links (resume would write through them), with a
    checkpoint pointer that stays inside it.
    """
    folder = RunFolder(run_dir)
    run_dir, path = folder.path, folder.file(CONFIG)
    if not run_dir.is_dir():
        raise CheckpointError(f"--resume {run_dir}: no such folder; pass the run folder an "
                              "interrupted fit printed as `run folder: ...`")
    if not path.is_file():
        raise CheckpointError(f"--resume {run_dir}: not a fit run folder (no {CONFIG}); pass "
                              "the folder an interrupted fit printed as `run folder: ...`")
    section = folder.read_config().get(SETTINGS)
    try:
        if not isinstance(section, dict):
            raise TypeError(f"no `{SETTINGS}:` section")
        cfg = RunConfig(**section)
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path} is not a config this version can resume ({exc}); start "
                              "a new fit") from None
    _check_resumable(folder)
    return cfg


def _check_resumable(folder: RunFolder) -> None:
    """No symbolic links in the folder, and a checkpoint to resume from."""
    from transferlab.engine.checkpoint import checked_pointer

    links = sorted(p.name for p in folder.path.iterdir() if p.is_symlink())
    if links:
        raise CheckpointError(f"--resume {folder.path}: {', '.join(links)} is a symbolic link; "
                              "a run folder holds only its own files: replace the link")
    if checked_pointer(folder.file(CHECKPOINT)) is None:
        done = folder.has(MODEL)
        raise CheckpointError(
            f"--resume {folder.path}: " + (
                "the run finished (model.safetensors saved) and its checkpoints were pruned; "
                "nothing to resume, start a new fit" if done else
                "no checkpoint/LATEST to resume from; start the run anew without --resume"))
