"""`transferlab rank`: score candidate backbones on your data before fine-tuning any of them."""

from __future__ import annotations

import argparse

from transferlab.cli.common import (
    add_data_args,
    add_run_args,
    add_source_data_arg,
    config_from_args,
)

HELP = "rank candidate backbones on your data (LogME, LEEP, k-NN, linear probe) before training"


def name_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def estimator_list(text: str) -> list[str]:
    from transferlab.selection.estimators import ESTIMATORS

    items = name_list(text)
    bad = [s for s in items if s not in ESTIMATORS]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"unknown estimators {bad}; choose from {', '.join(ESTIMATORS)}")
    return items


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rank", help=HELP, description=HELP + ". Features are extracted once "
                       "per backbone (cached) from the same training images `fit` would use; "
                       "the run folder holds ranking.json.")
    p.add_argument("--backbones", required=True, type=name_list, metavar="A,B,C",
                   help="candidates: bundled names, timm:NAME, tv:NAME, transferlab run folders; "
                   "NAME@random = same architecture with random weights (a no-transfer "
                   "reference)")
    p.add_argument("--estimators", type=estimator_list, default=None, metavar="E,F",
                   help="subset of logme,leep,knn,linear (default all)")
    p.add_argument("--sort-by", default="logme", help="estimator that orders the table "
                   "(default logme)")
    p.add_argument("--image-size", type=int, help="input resolution in pixels (default: what "
                   "the auto recipe would fine-tune at on this device)")
    add_data_args(p)
    add_source_data_arg(p)
    add_run_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.api.workflows import rank_config

    ranking = rank_config(config_from_args(args), args.backbones, args.estimators,
                          args.sort_by, log=print)
    print(ranking.table())
    print(f"best: {ranking.winner} ({ranking.report.total_seconds:.1f}s in all); "
          f"ranking: {ranking.path}")
    return 0
