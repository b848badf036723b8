"""`transferlab evaluate`: a saved model on a labelled test set."""

from __future__ import annotations

import argparse
import json

HELP = "evaluate a saved model (run folder or model.safetensors) on labelled data"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help=HELP, description=HELP + "; prints accuracy, balanced "
                       "accuracy, macro precision/recall/F1 and writes the full metrics JSON.")
    p.add_argument("model", help="run folder or model.safetensors")
    p.add_argument("--data", default="fashion-mnist", help="labelled data (same forms as fit)")
    p.add_argument("--split", default="test", choices=["train", "test"],
                   help="split of an IDX dataset or DIR/{train,test} folder (default test)")
    p.add_argument("--device", default="auto")
    p.add_argument("--output", help="write the metrics JSON here (default: print only)")
    p.add_argument("--allow-outside-paths", action="store_true",
                   help="let CSV rows and symbolic links name files outside the data folder "
                   "(default: such rows are listed as bad files and never opened)")
    p.add_argument("--on-bad-file", choices=["skip", "error"], default="skip",
                   help="bad images: skip and report them (default) or stop and list them")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.api.saved import evaluate

    metrics = evaluate(args.model, args.data, split=args.split, device=args.device,
                       output=args.output, allow_outside=args.allow_outside_paths,
                       on_bad=args.on_bad_file)
    if "calibration" in metrics:
        from transferlab.results.calibration import describe

        print(f"calibration: {describe(metrics['calibration'])}")
    from transferlab.api.objects import rounded_intervals

    line = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
    if metrics.get("ci95"):
        line["ci95"] = rounded_intervals(metrics["ci95"])
    print(json.dumps(line))
    return 0
