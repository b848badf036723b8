"""Synthetic run folders in the exact format `compare` and `fit` write, made without training.

Report tests build these instead of running a model, so they take milliseconds and can pin
edge cases (negative transfer, skipped files, a probe-only history) that a real run may not hit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

CLASSES = ["T-shirt", "Trouser", "Sneaker"]
ACCURACY = {"linear-probe": 0.58, "finetune": 0.86, "lp-ft": 0.82, "scratch": 0.61}


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


def _metrics(strategy: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    n = len(CLASSES)
    cm = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    per_class = []
    for i, c in enumerate(CLASSES):
        prec = cm[i, i] / max(1, cm[:, i].sum())
        rec = cm[i, i] / max(1, cm[i].sum())
        f1 = 2 * prec * rec / max(1e-9, prec + rec)
        per_class.append({"class": c, "precision": float(prec), "recall": float(rec),
                          "f1": float(f1), "support": int(cm[i].sum())})
    acc = float(np.trace(cm) / cm.sum())
    return {"accuracy": acc, "balanced_accuracy": acc,
            "macro_precision": float(np.mean([p["precision"] for p in per_class])),
            "macro_recall": float(np.mean([p["recall"] for p in per_class])),
            "macro_f1": float(np.mean([p["f1"] for p in per_class])),
            "per_class": per_class, "confusion_matrix": cm.tolist(), "n": int(cm.sum()),
            "loss": 0.7}


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


def write_strategy(path: Path, strategy: str, seed: int = 0, channels: int = 1,
                   with_data: bool = False) -> dict:
    """One strategy folder: config.yaml, metrics.json, history.jsonl, predictions.npz."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    preds = _predictions(strategy, rng, channels)
    metrics = _metrics(strategy, preds["y_true"], preds["y_pred"])
    resolved = {"config": {"data": "photos", "backbone": "efficientnet_lite0", "per_class": 10,
                           "seed": seed, "strategy": strategy},
                "recipe": {"image_size": 64, "epochs": 5, "batch_size": 16, "lr": 0.003},
                "phases": [{"name": r["phase"]} for r in _history(strategy, rng)[:1]]}
    (path / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    wall = 3.0 + 7.0 * (strategy != "linear-probe")
    (path / "metrics.json").write_text(json.dumps(
        {"strategy": strategy, "test": metrics, "wall_seconds": wall,
         "environment": {"torch": "2.14.1", "python": "3.11.7", "platform": "Linux-x86_64",
                         "device": "cpu", "threads": 2}}))
    (path / "history.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in _history(strategy, rng)))
    np.savez_compressed(path / "predictions.npz", **preds)
    if with_data:
        (path / "data.json").write_text(json.dumps(data_summary()))
    return {"strategy": strategy, "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"], "rmse": None, "wall_seconds": wall,
            "train_seconds": wall - 1.0, "run_dir": str(path)}


def make_compare_run(root: Path, strategies: tuple[str, ...] = tuple(ACCURACY),
                     per_class: int = 10, name: str = "compare-demo") -> Path:
    """A `compare` run folder; linear-probe is made to lose to scratch (negative transfer)."""
    run = root / name
    run.mkdir(parents=True)
    rows = [write_strategy(run / s, s, seed=i, channels=3 if s == "finetune" else 1)
            for i, s in enumerate(strategies)]
    base = next((r for r in rows if r["strategy"] == "scratch"), None)
    warnings = []
    for r in rows:
        r["transfer_gain"] = None if base is None or r is base else r["accuracy"] - base["accuracy"]
        if r["transfer_gain"] is not None and r["transfer_gain"] < 0:
            warnings.append(f"negative transfer: {r['strategy']} is {-r['transfer_gain']:.4f} "
                            "below scratch on the test set; the pretrained weights hurt on "
                            "this data")
    (run / "comparison.json").write_text(json.dumps(
        {"rows": rows, "baseline": "scratch" if base else None, "warnings": warnings,
         "run_dir": "/elsewhere/runs/" + name}))
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"data": "photos", "backbone": "efficientnet_lite0", "per_class": per_class,
         "strategies": list(strategies), "seed": 0}))
    (run / "data.json").write_text(json.dumps(data_summary()))
    return run


def make_fit_run(root: Path, strategy: str = "lp-ft") -> Path:
    """A `fit` run folder: the strategy files directly in the run folder, plus data.json."""
    run = root / "fit-demo"
    write_strategy(run, strategy, with_data=True)
    return run
