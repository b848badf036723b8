"""`transferlab evaluate`: a saved model on a labelled test set."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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


def check_output(output: str | None) -> None:
    """Refuse an --output that cannot be written before the (possibly long) evaluation runs."""
    from transferlab.errors import ConfigError

    if output is None:
        return
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"--output {output} is a folder; give a file name, e.g. --output "
                          f"{path / 'metrics.json'}")
    if not path.parent.is_dir():
        raise ConfigError(f"--output {output}: folder {path.parent} does not exist; create it "
                          "or write the metrics elsewhere")


def decode_size(model, model_path: str) -> int:
    """The size the model's training images were stored at, so pixels (and hashes) match."""
    from transferlab.results.overlap import load_training_hashes

    if "decode_size" in model.info.extra:
        return model.info.decode_size
    saved = load_training_hashes(model_path)
    return saved[1][-1] if saved else model.info.image_size


def run(args: argparse.Namespace) -> int:
    from transferlab.data import load_dataset
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.device import resolve_device
    from transferlab.engine.loop import evaluate
    from transferlab.errors import DataError
    from transferlab.model import load_model
    from transferlab.results.overlap import overlap_warning

    check_output(args.output)
    model = load_model(args.model)
    size = decode_size(model, args.model)
    data = load_dataset(args.data, args.split, size)
    if data is None:
        data = load_dataset(args.data, "train", size)
    if data is None:
        raise DataError(f"{args.data} has no {args.split} split")
    if not data.is_regression and data.classes != model.info.classes:
        raise DataError(f"classes of {args.data} {data.classes} differ from the model's "
                        f"{model.info.classes}")
    if hasattr(data, "prepare_for"):  # text: tokenise as the model was trained
        data.prepare_for(model)
    warning = overlap_warning(data, args.model)
    if warning:
        print(warning, file=sys.stderr)
    device = resolve_device(args.device)
    pre = Preprocess.from_spec(model.spec, model.info.image_size)
    metrics = evaluate(model.to(device), data, pre, device)
    print(json.dumps({k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(metrics, f, indent=2)
    return 0
