"""A run folder as the report sees it, read through results/runfolder.py (the format's owner).

A report is often made from a run that stopped early or was copied from another machine, so
every file except the metrics is optional: a missing piece becomes an empty section in the
report, never a crash. A file that is there but damaged is a one-line error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferlab.errors import TransferlabError
from transferlab.results.runfolder import COMPARISON, METRICS, RunFolder


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
    seeds: dict[int, dict] = field(default_factory=dict)  # compare --seeds: seed -> test metrics

    @property
    def test(self) -> dict:
        return self.metrics.get("test", {})

    @property
    def is_regression(self) -> bool:
        return "accuracy" not in self.test and "rmse" in self.test


@dataclass
class LoadedRun:
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


def class_names(metrics: dict, data: dict | None) -> list[str]:
    """Class names from the per-class table, else from data.json."""
    per_class = metrics.get("test", {}).get("per_class") or []
    if per_class:
        return [str(c["class"]) for c in per_class]
    train = (data or {}).get("train") or {}
    return [str(c) for c in train.get("classes") or []]


def load_strategy(path: Path, name: str | None = None, data: dict | None = None) -> StrategyRun:
    folder = RunFolder(path)
    metrics = folder.read_metrics(required=False) or {}
    data = data if data is not None else folder.read_data(required=False)
    return StrategyRun(name=name or metrics.get("strategy") or path.name, path=path,
                       config=folder.read_config(required=False), metrics=metrics,
                       history=folder.read_history(),
                       predictions=folder.read_predictions(required=False),
                       classes=class_names(metrics, data), seeds=seed_metrics(path))


def seed_metrics(path: Path) -> dict[int, dict]:
    """compare --seeds: the extra training seeds' test metrics, from RUN/<strategy>/seed-S/."""
    out = {}
    for d in path.glob("seed-*"):
        if d.is_dir() and d.name[5:].isdigit():
            saved = RunFolder(d).read_metrics(required=False)
            if saved:
                out[int(d.name[5:])] = saved.get("test", {})
    return dict(sorted(out.items()))


def load_run(run_dir: Path) -> LoadedRun:
    """Detect compare (comparison.json) vs fit (metrics.json) and read what is there."""
    folder = RunFolder(run_dir)
    comparison = folder.read_comparison(required=False)
    data = folder.read_data(required=False)
    if comparison is not None:
        # Rows' run_dir may point at another machine; the sub-folder is named after the strategy.
        names = [r["strategy"] for r in comparison.get("rows", [])]
        strategies = [load_strategy(folder.path / n, n, data) for n in names]
        return LoadedRun(folder.path, "compare", folder.settings(required=False), data,
                         strategies, comparison)
    if folder.has(METRICS):
        one = load_strategy(folder.path, data=data)
        return LoadedRun(folder.path, "fit", folder.settings(required=False), data, [one])
    raise ReportError(f"{folder.path} is not a transferlab run folder: it has neither "
                      f"{COMPARISON} (from `compare`) nor {METRICS} (from `fit`)")


def labels_per_class(run: LoadedRun) -> float | None:
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
