"""`transferlab compare`: strategies side by side against training from scratch."""

from __future__ import annotations

import argparse

from transferlab.cli.common import (
    add_data_args,
    add_model_args,
    add_recipe_args,
    add_run_args,
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
    add_data_args(p)
    add_model_args(p)
    add_recipe_args(p)
    add_run_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.compare import compare, format_table

    report = compare(config_from_args(args))
    print()
    print(format_table(report))
    for w in report.warnings:
        print(f"WARNING: {w}")
    print(f"\nrun folder: {report.run_dir}")
    return 0
