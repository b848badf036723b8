"""`transferlab fit`: one strategy, one model, saved in a run folder."""

from __future__ import annotations

import argparse

from transferlab.cli.common import (
    add_data_args,
    add_model_args,
    add_recipe_args,
    add_run_args,
    config_from_args,
    given_settings,
)
from transferlab.engine.strategies import STRATEGIES

HELP = "transfer a pretrained backbone to your data with one strategy and save the model"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help=HELP, description=HELP + ". The run folder holds "
                       "model.safetensors, config.yaml (resolved), metrics.json, history.jsonl "
                       "and a checkpoint to --resume from. Under torchrun it trains data-"
                       "parallel on every process (docs/DISTRIBUTED.md).")
    p.add_argument("--strategy", metavar="NAME", help=f"one of {', '.join(STRATEGIES)} "
                   "(default finetune)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted fit from its "
                   "latest checkpoint with its saved config.yaml; training flags are refused "
                   "unless they repeat the saved values (--device and --keep-checkpoints may "
                   "change)")
    add_data_args(p)
    add_model_args(p)
    p.add_argument("--candidates", metavar="A,B,C", help="with --backbone auto: backbones to "
                   "rank on the training split first (`transferlab rank`); the best is fitted "
                   "(default: every installed bundled backbone)")
    add_recipe_args(p)
    add_run_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Single process, or one rank of a torchrun job: `api.fit_config` does the rest."""
    from transferlab.api.workflows import fit_config

    cfg = None if args.resume else config_from_args(args)
    fit_config(cfg, resume=args.resume, given=given_settings(args) if args.resume else None,
               candidates=args.candidates, log=print)
    return 0
