"""Reports of run folders: PNG plots and one self-contained report.html.

Only the standard library is imported here; matplotlib loads when a report is actually drawn,
so `compare` and `fit` can call the report hook without paying for (or failing on) plotting
until the run's results are safely on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["write_report", "write_report_safely", "accuracy_vs_labels_plot"]


def write_report(run_dir: Path) -> Path:
    """Write RUN/report.html and RUN/plots/*.png for a `compare` or `fit` run folder."""
    from transferlab.results.report.html import write_report as _write

    return _write(Path(run_dir))


def write_report_safely(run_dir: Path, log: Callable[[str], object] = print) -> Path | None:
    """The hook `compare` and `fit` call: a report failure is a warning, never a lost run.

    The model, metrics and predictions are already saved when this runs, so the user can
    retry with `transferlab report RUN_DIR` once the cause is fixed.
    """
    try:
        path = write_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the run's results matter more than its report
        log(f"warning: report not written ({type(exc).__name__}: {exc}); "
            f"retry with `transferlab report {run_dir}`")
        return None
    log(f"report: {path}")
    return path


def accuracy_vs_labels_plot(run_dirs: list[Path], path: Path) -> Path:
    """Plot test score vs labels per class from several `compare` run folders into `path`."""
    from transferlab.results.report.plots import accuracy_vs_labels
    from transferlab.results.report.rundata import ReportError, labels_per_class, load_run

    points = []
    for d in run_dirs:
        run = load_run(Path(d))
        per_class = labels_per_class(run)
        if run.comparison is None or per_class is None:
            raise ReportError(f"{d}: needs a compare run folder with a known --per-class")
        points.append((per_class, run.comparison))
    return accuracy_vs_labels(points, Path(path))
