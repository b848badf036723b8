"""`transferlab compare`: strategies side by side against training from scratch."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from transferlab.cli.common import (
    add_data_args,
    add_model_args,
    add_recipe_args,
    add_run_args,
    add_source_data_arg,
    config_from_args,
    strategy_list,
)

HELP = "run several strategies on the same data, seed and budget and compare them with scratch"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help=HELP, description=HELP + ". With no flags: Fashion-MNIST, "
                       "100 images per class, EfficientNet-Lite0 (bundled ImageNet weights), "
                       "linear-probe vs finetune vs scratch.")
    p.add_argument("--strategies", type=strategy_list,
                   help="comma-separated (default linear-probe,finetune,scratch)")
    p.add_argument("--seeds", type=int, help="train each strategy with N seeds (--seed, "
                   "--seed+1, ...) on the same split and report mean, sd and an interval "
                   "across seeds (default 1; 1 to 20)")
    p.add_argument("--backbones", help="comma-separated backbones compared side by side, each "
                   "as NAME or LABEL=NAME (a registry name, weights file or transferlab run "
                   "folder): every backbone runs every non-scratch strategy, scratch runs once "
                   "(random init of the first); rows are LABEL.STRATEGY")
    add_data_args(p)
    add_source_data_arg(p)
    add_model_args(p)
    add_recipe_args(p)
    add_run_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.api.workflows import compare_config

    report = compare_config(config_from_args(args), log=print,
                            backbones=getattr(args, "backbones", None))
    print()
    print(report.table())
    if report.report.domain_shift:
        from transferlab.selection.domain import shift_line

        print(shift_line(report.report.domain_shift))
    for w in report.warnings:
        print(f"WARNING: {w}")
    for note in report.report.notes:
        print(f"note: {note}")
    if report.recommendation:
        print(f"\nrecommendation: {report.recommendation}")
    size = folder_size(report.run_dir)
    print(f"\nrun folder {report.run_dir}: {human_size(size)}")
    return 0


def folder_size(root: Path) -> int:
    """Bytes of the files under `root`; symbolic links are not followed (nor counted)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath, f)
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
