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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.data import load_dataset
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.device import resolve_device
    from transferlab.engine.loop import evaluate
    from transferlab.errors import DataError
    from transferlab.model import load_model

    model = load_model(args.model)
    data = load_dataset(args.data, args.split, model.info.image_size)
    if data is None:
        data = load_dataset(args.data, "train", model.info.image_size)
    if data is None:
        raise DataError(f"{args.data} has no {args.split} split")
    if not data.is_regression and data.classes != model.info.classes:
        raise DataError(f"classes of {args.data} {data.classes} differ from the model's "
                        f"{model.info.classes}")
    if hasattr(data, "prepare_for"):  # text: tokenise as the model was trained
        data.prepare_for(model)
    device = resolve_device(args.device)
    pre = Preprocess.from_spec(model.spec, model.info.image_size)
    metrics = evaluate(model.to(device), data, pre, device)
    print(json.dumps({k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(metrics, f, indent=2)
    return 0
