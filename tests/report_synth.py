"""Synthetic run folders for the report tests, written by the real writer without training.

The contents (histories, predictions, data summary) are made up so the tests take milliseconds
and can pin edge cases (negative transfer, skipped files, a probe-only history) that a real run
may not hit; the files are written by transferlab.results.runfolder, the metrics by
results.metrics and the comparison table by `compare`'s build_report, so the fixtures cannot
drift from what `fit` and `compare` write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transferlab.api.compare import build_report
from transferlab.api.runner import StrategyResult
from transferlab.results.metrics import classification_metrics
from transferlab.results.runfolder import RunFolder
from transferlab.results.stats import metric_intervals

CLASSES = ["T-shirt", "Trouser", "Sneaker"]
ACCURACY = {"linear-probe": 0.3, "finetune": 0.86, "lp-ft": 0.82, "scratch": 0.61}


def _history(strategy: str, rng: np.random.Generator) -> list[dict]:
    """Per-epoch rows as the Trainer writes them; epochs restart at each phase."""
    phases = {"linear-probe": [("probe", 1)], "finetune": [("finetune", 5)],
              "lp-ft": [("probe", 1), ("finetune", 4)], "scratch": [("scratch", 5)]}[strategy]
    rows, step, seconds = [], 0, 0.0
    for name, epochs in phases:
        for e in range(1, epochs + 1):
            probe = name == "probe"
            step += 0 if probe else 10
            seconds += 0.5
            acc = min(0.95, 0.4 + 0.1 * e + rng.uniform(0, 0.05))
            rows.append({"phase": name, "epoch": e, "step": step,
                         "train_loss": None if probe else round(1.4 / e, 4),
                         "seconds": round(seconds, 2),
                         "val": {"accuracy": acc, "balanced_accuracy": acc, "loss": 1.0 / e}})
    return rows


def _predictions(strategy: str, rng: np.random.Generator, channels: int) -> dict:
    n = 60
    y_true = np.repeat(np.arange(len(CLASSES)), n // len(CLASSES))
    correct = rng.random(n) < ACCURACY[strategy]
    y_pred = np.where(correct, y_true, (y_true + rng.integers(1, len(CLASSES), n)) % 3)
    conf = rng.uniform(0.4, 1.0, n).astype(np.float32)
    wrong = np.nonzero(y_pred != y_true)[0]
    worst = wrong[np.argsort(-conf[wrong])][:16]
    images = rng.integers(0, 256, (len(worst), channels, 28, 28), dtype=np.uint8)
    images[:, :, 8:20, 8:20] = 255  # a bright square, so a blank render would be noticed
    return {"y_true": y_true, "y_pred": y_pred, "confidence": conf, "wrong_index": worst,
            "wrong_images": images}


def data_summary() -> dict:
    def split(source: str, counts: list[int], skipped: list[dict]) -> dict:
        return {"source": source, "images": sum(counts), "image_shape": [1, 28, 28],
                "classes": CLASSES, "class_counts": dict(zip(CLASSES, counts)),
                "skipped": len(skipped), "skipped_files": skipped}

    bad = [{"path": "photos/Sneaker/broken.jpg", "reason": "truncated JPEG"},
           {"path": "photos/Trouser/empty.png", "reason": "zero-byte file"}]
    return {"train": split("photos", [9, 9, 9], bad), "val": split("photos", [1, 1, 1], []),
            "test": split("photos/test", [20, 20, 20], [])}


ENVIRONMENT = {"torch": "2.14.1", "python": "3.11.7", "platform": "Linux-x86_64",
               "device": "cpu", "threads": 2}


def write_strategy(path: Path, strategy: str, seed: int = 0, channels: int = 1,
                   with_data: bool = False) -> StrategyResult:
    """One strategy folder (config.yaml, metrics.json, history.jsonl, predictions.npz), written
    by the run folder's own writer; returns what `run_strategy` would."""
    rng = np.random.default_rng(seed)
    folder = RunFolder(path)
    path.mkdir(parents=True, exist_ok=True)
    preds = _predictions(strategy, rng, channels)
    metrics = classification_metrics(preds["y_true"], preds["y_pred"], CLASSES)
    metrics["ci95"] = metric_intervals(preds["y_true"], preds["y_pred"], len(CLASSES))
    history = _history(strategy, rng)
    folder.write_config({"data": "photos", "backbone": "efficientnet_lite0", "per_class": 10,
                         "seed": seed, "strategy": strategy},
                        recipe={"image_size": 64, "epochs": 5, "batch_size": 16, "lr": 0.003},
                        phases=[{"name": r["phase"]} for r in history[:1]])
    wall = 3.0 + 7.0 * (strategy != "linear-probe")
    folder.write_metrics(strategy, metrics, wall, ENVIRONMENT)
    folder.write_history(history)
    folder.write_predictions(preds)
    if with_data:
        folder.write_data(data_summary())
    return StrategyResult(strategy, metrics, wall, wall - 1.0, path, None, preds["y_true"],
                          preds["y_pred"])


def make_compare_run(root: Path, strategies: tuple[str, ...] = tuple(ACCURACY),
                     per_class: int = 10, name: str = "compare-demo") -> Path:
    """A `compare` run folder; linear-probe is made to lose to scratch (negative transfer).

    The table is `compare`'s own (build_report); it names a run folder on another machine, as
    a copied run does, so the report must find the strategies by name.
    """
    run = root / name
    folder = RunFolder(run)
    run.mkdir(parents=True)
    results = [write_strategy(run / s, s, seed=i, channels=3 if s == "finetune" else 1)
               for i, s in enumerate(strategies)]
    elsewhere = Path("/elsewhere/runs") / name
    for r in results:
        r.run_dir = elsewhere / r.strategy
    folder.write_comparison(build_report(results, elsewhere).to_dict())
    folder.write_config({"data": "photos", "backbone": "efficientnet_lite0",
                         "per_class": per_class, "strategies": list(strategies), "seed": 0})
    folder.write_data(data_summary())
    return run


def make_fit_run(root: Path, strategy: str = "lp-ft") -> Path:
    """A `fit` run folder: the strategy files directly in the run folder, plus data.json."""
    run = root / "fit-demo"
    write_strategy(run, strategy, with_data=True)
    return run
