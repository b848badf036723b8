"""`transferlab layers`: which of the backbone's layers transfer (Yosinski's AnB / AnB+)."""

from __future__ import annotations

import argparse

from transferlab.cli.common import (
    add_data_args,
    add_model_args,
    add_recipe_args,
    add_run_args,
    config_from_args,
)

HELP = "which layers transfer: copy the first k stage groups, re-initialise the rest, train " \
       "frozen (AnB) and fine-tuned (AnB+) for every k"


def k_list(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated integers, e.g. 0,2,4,8"
                                         ) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layers", help=HELP, description=HELP + ". The rest of the network "
                       "starts from the architecture's random init (as scratch does); each "
                       "point is the test accuracy, mean and 95%% t-interval over --seeds. The "
                       "run folder holds layers.json, layers.png and report.html. Costs about "
                       "2 x (groups + 1) x seeds trainings: start with --ks and small --epochs.")
    p.add_argument("--ks", type=k_list, metavar="K,K", help="which k to measure (default 0 to "
                   "the number of stage groups; the log names the groups)")
    p.add_argument("--seeds", type=int, help="training seeds per point (default 1; 1 to 20; "
                   "3 or more for intervals worth reading)")
    add_data_args(p)
    add_model_args(p)
    add_recipe_args(p)
    add_run_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.api.layers import layers

    result = layers(config_from_args(args), args.ks, log=print)
    print()
    print(result.table())
    print(f"\nrun folder {result.run_dir}: layers.json, layers.png, report.html")
    return 0
