"""Read a run folder back into plain Python objects, tolerating the gaps a real run leaves.

A report is often made from a run that stopped early, was copied from another machine or was
written by an older version, so every file except the metrics is optional: a missing piece
becomes an empty section in the report, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from transferlab.errors import TransferlabError


class ReportError(TransferlabError):
    """The folder is not a transferlab run folder (no comparison.json and no metrics.json)."""


@dataclass
class StrategyRun:
    """One strategy's outputs: what `fit` writes, or one sub-folder of a `compare` run."""

    name: str
    path: Path
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    predictions: dict[str, np.ndarray] | None = None
    classes: list[str] = field(default_factory=list)

    @property
    def test(self) -> dict:
        return self.metrics.get("test", {})

    @property
    def is_regression(self) -> bool:
        return "accuracy" not in self.test and "rmse" in self.test


@dataclass
class RunFolder:
    """A whole run folder, compare or fit, as the report needs it."""

    path: Path
    kind: str  # "compare" or "fit"
    config: dict
    data: dict | None
    strategies: list[StrategyRun]
    comparison: dict | None = None

    @property
    def environment(self) -> dict:
        for s in self.strategies:
            if s.metrics.get("environment"):
                return s.metrics["environment"]
        return {}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def read_yaml(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def read_history(path: Path) -> list[dict]:
    """history.jsonl rows; a half-written last line (a killed run) is dropped, not fatal."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def read_predictions(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def class_names(metrics: dict, data: dict | None) -> list[str]:
    """Class names from the per-class table, else from data.json."""
    per_class = metrics.get("test", {}).get("per_class") or []
    if per_class:
        return [str(c["class"]) for c in per_class]
    train = (data or {}).get("train") or {}
    return [str(c) for c in train.get("classes") or []]


def load_strategy(path: Path, name: str | None = None, data: dict | None = None) -> StrategyRun:
    metrics = read_json(path / "metrics.json") or {}
    data = data if data is not None else read_json(path / "data.json")
    return StrategyRun(name=name or metrics.get("strategy") or path.name, path=path,
                       config=read_yaml(path / "config.yaml"), metrics=metrics,
                       history=read_history(path / "history.jsonl"),
                       predictions=read_predictions(path / "predictions.npz"),
                       classes=class_names(metrics, data))


def load_run(run_dir: Path) -> RunFolder:
    """Detect compare (comparison.json) vs fit (metrics.json) and read what is there."""
    run_dir = Path(run_dir)
    comparison = read_json(run_dir / "comparison.json")
    data = read_json(run_dir / "data.json")
    if comparison is not None:
        # Rows' run_dir may point at another machine; the sub-folder is named after the strategy.
        names = [r["strategy"] for r in comparison.get("rows", [])]
        strategies = [load_strategy(run_dir / n, n, data) for n in names]
        return RunFolder(run_dir, "compare", read_yaml(run_dir / "config.yaml"), data,
                         strategies, comparison)
    if (run_dir / "metrics.json").is_file():
        one = load_strategy(run_dir, data=data)
        return RunFolder(run_dir, "fit", one.config.get("config", one.config), data, [one])
    raise ReportError(f"{run_dir} is not a transferlab run folder: it has neither "
                      "comparison.json (from `compare`) nor metrics.json (from `fit`)")


def labels_per_class(run: RunFolder) -> float | None:
    """The few-shot budget of a run: --per-class if set, else the mean labelled images/class."""
    per_class = run.config.get("per_class")
    if per_class:
        return float(per_class)
    splits = run.data or {}
    counts: dict[str, int] = {}
    for split in ("train", "val"):
        for c, n in ((splits.get(split) or {}).get("class_counts") or {}).items():
            counts[c] = counts.get(c, 0) + int(n)
    return sum(counts.values()) / len(counts) if counts else None
