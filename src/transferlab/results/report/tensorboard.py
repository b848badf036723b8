"""TensorBoard event files from a run folder's history.jsonl (optional: needs `tensorboard`).

Written after the fact from the saved history rather than live from the trainer, so any run
folder, old or new, compare or fit, can be browsed in TensorBoard, and training never depends on
an optional package. Each strategy is its own TensorBoard run, so their curves overlay.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from transferlab.results.report.rundata import ReportError, load_run

TEST_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "loss", "mae", "rmse", "r2")


def write_tensorboard(run_dir: Path) -> Path:
    """Write RUN/tensorboard/<strategy>/events.* and return RUN/tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch is there; its TensorBoard writer needs the package
        raise ReportError("--tensorboard needs the tensorboard package: "
                          "pip install 'transferlab[tensorboard]'") from exc
    run = load_run(Path(run_dir))
    root = run.path / "tensorboard"
    for s in run.strategies:
        log_dir = root / s.name
        shutil.rmtree(log_dir, ignore_errors=True)  # a redraw replaces, never duplicates, curves
        with SummaryWriter(log_dir=str(log_dir)) as w:
            for epoch, row in enumerate(s.history, start=1):
                if row.get("train_loss") is not None:
                    w.add_scalar("train/loss", float(row["train_loss"]), epoch)
                for key, value in (row.get("val") or {}).items():
                    if isinstance(value, (int, float)):
                        w.add_scalar(f"val/{key}", float(value), epoch)
            last = max(len(s.history), 1)
            for key in TEST_KEYS:
                if isinstance(s.test.get(key), (int, float)):
                    w.add_scalar(f"test/{key}", float(s.test[key]), last)
    return root
