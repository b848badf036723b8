"""`transferlab report`: (re)draw report.html and the plots of existing run folders."""

from __future__ import annotations

import argparse

HELP = "write RUN_DIR/report.html (plots, comparison table, config, data, environment)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help=HELP, description=HELP + ". compare and fit write it "
                       "themselves; use this to redraw a report or to make one for an older "
                       "or interrupted run. The page is self-contained (images embedded).")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="a run folder from `transferlab compare` or `transferlab fit`")
    p.add_argument("--curve", metavar="PNG", help="with several compare run folders at "
                   "different --per-class values: also plot test accuracy against labels per "
                   "class into this PNG")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event "
                   "files to RUN_DIR/tensorboard/ (one run per strategy; needs the tensorboard "
                   "package: pip install 'transferlab[tensorboard]')")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.api.saved import report

    report(args.run_dirs, curve=args.curve, tensorboard=args.tensorboard, log=print)
    return 0
