"""Several strategies under the same data, seed and budget, judged against training from scratch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from transferlab.api.runner import StrategyResult, new_run_dir, prepare_data, run_strategy
from transferlab.config import RunConfig
from transferlab.engine.strategies import STRATEGIES
from transferlab.results.metrics import rank_score
from transferlab.results.report import write_report_safely
from transferlab.results.runfolder import RunFolder

NEGATIVE_TRANSFER_MARGIN = 0.0


@dataclass
class ComparisonReport:
    rows: list[dict]
    baseline: str | None
    warnings: list[str]
    run_dir: Path
    results: list[StrategyResult] = field(default_factory=list, repr=False)  # full metrics

    def to_dict(self) -> dict:
        return {"rows": self.rows, "baseline": self.baseline, "warnings": self.warnings,
                "run_dir": str(self.run_dir)}


def build_report(results: list[StrategyResult], run_dir: Path) -> ComparisonReport:
    rows = [r.row() for r in results]
    base = next((r for r in rows if r["strategy"] == "scratch"), None)
    warnings = []
    for r in rows:
        if base is None or r is base:
            r["transfer_gain"] = None
            continue
        gain = rank_score(r) - rank_score(base)  # a missing metric: no gain, not +-inf
        r["transfer_gain"] = gain if math.isfinite(gain) else None
        if r["transfer_gain"] is not None and gain < NEGATIVE_TRANSFER_MARGIN:
            warnings.append(
                f"negative transfer: {r['strategy']} is {-r['transfer_gain']:.4f} below scratch "
                "on the test set; the pretrained weights hurt on this data")
    return ComparisonReport(rows, "scratch" if base else None, warnings, run_dir, results)


def compare(cfg: RunConfig, log=print) -> ComparisonReport:
    for s in cfg.strategies:
        if s not in STRATEGIES:
            from transferlab.errors import ConfigError

            raise ConfigError(f"unknown strategy {s!r}; choose from {', '.join(STRATEGIES)}")
    run_dir = new_run_dir(cfg, "compare")
    log(f"run folder: {run_dir}")
    splits = prepare_data(cfg, log)
    folder = RunFolder(run_dir)
    folder.write_config(cfg.to_dict())
    folder.write_data(splits.summary())
    results = [run_strategy(cfg, s, splits, run_dir / s, log) for s in cfg.strategies]
    report = build_report(results, run_dir)
    folder.write_comparison(report.to_dict())
    write_report_safely(run_dir, log)  # plots + report.html; a failure only warns
    return report


def format_table(report: ComparisonReport) -> str:
    regression = any(r.get("accuracy") is None for r in report.rows)
    metric_name = "rmse" if regression else "accuracy"
    head = ("strategy", metric_name, "macro-F1", "wall s", "gain vs scratch")
    lines = [f"{head[0]:<14}{head[1]:>10}{head[2]:>10}{head[3]:>9}{head[4]:>17}"]
    for r in report.rows:
        value = r.get("rmse") if regression else r.get("accuracy")
        metric = "-" if value is None else f"{value:.4f}"  # a broken run shows '-', no crash
        f1 = "-" if r.get("macro_f1") is None else f"{r['macro_f1']:.4f}"
        gain = "baseline" if r["strategy"] == report.baseline else (
            "-" if r["transfer_gain"] is None else f"{r['transfer_gain']:+.4f}")
        lines.append(f"{r['strategy']:<14}{metric:>10}{f1:>10}{r['wall_seconds']:>9.1f}"
                     f"{gain:>17}")
    return "\n".join(lines)
