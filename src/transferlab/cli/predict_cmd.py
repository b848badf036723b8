"""`transferlab predict`: top-k classes for image files, folders or a CSV of paths."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "predict top-k classes for image files, folders or a CSV with a saved or exported model"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help=HELP, description=HELP + ". Bad files are reported per "
                       "row and do not stop the batch.")
    p.add_argument("model", help="run folder, model.safetensors, or an exported .onnx / "
                   "TorchScript .pt file (with its .json sidecar next to it)")
    p.add_argument("inputs", nargs="+", help="image files, folders (searched recursively) and/or "
                   "CSV files whose first column is an image path; for a text model: .csv "
                   "(text column, or the first) and .txt (one text per line) files")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--format", choices=["text", "json", "csv"], default="text",
                   help="text (default), json (one object per line) or csv (one row per input)")
    p.add_argument("--output", help="write the rows to this file instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.api.saved import check_output, predict
    from transferlab.deploy.predict import count_errors, format_rows

    check_output(args.output, f"predictions.{'txt' if args.format == 'text' else args.format}",
                 "the predictions")  # before predicting, not a traceback after it
    rows = predict(args.model, args.inputs, top_k=args.top_k, device=args.device,
                   batch_size=args.batch_size)
    text = format_rows(rows, args.format)
    if args.output:
        out = Path(args.output)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {len(rows)} rows ({count_errors(rows)} errors) to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
