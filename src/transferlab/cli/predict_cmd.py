"""`transferlab predict`: top-k class names for image files or folders."""

from __future__ import annotations

import argparse
import json

HELP = "predict top-k classes for image files or folders with a saved model"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help=HELP, description=HELP + ". Bad files are reported per "
                       "row and do not stop the batch.")
    p.add_argument("model", help="run folder or model.safetensors")
    p.add_argument("inputs", nargs="+", help="image files and/or folders (searched recursively)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.engine.device import resolve_device
    from transferlab.model import load_model
    from transferlab.predict import predict_files

    model = load_model(args.model)
    rows = predict_files(model, args.inputs, args.top_k, resolve_device(args.device))
    for row in rows:
        if args.format == "json":
            print(json.dumps(row))
        elif "error" in row:
            print(f"{row['path']}\tERROR: {row['error']}")
        else:
            top = ", ".join(f"{p['label']} {p['prob']:.3f}" for p in row["top"])
            print(f"{row['path']}\t{top}")
    return 0
