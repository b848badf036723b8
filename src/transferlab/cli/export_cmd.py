"""`transferlab export`: ONNX / TorchScript / safetensors + JSON sidecar, parity-checked."""

from __future__ import annotations

import argparse

HELP = "export a trained model (ONNX, TorchScript or safetensors) with a JSON sidecar"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help=HELP,
        description=HELP + ". The sidecar holds the labels, preprocessing, weights spec and test "
        "metrics. Every export is reloaded and compared with eager PyTorch; one whose logits "
        "differ by more than --tolerance is removed and the command fails.")
    p.add_argument("run_dir", help="run folder (or a model.safetensors inside one)")
    p.add_argument("--format", choices=["onnx", "torchscript", "safetensors"], default="onnx",
                   help="onnx (default; dynamic batch axis, and sequence axis for text), "
                   "torchscript (.pt) or safetensors")
    p.add_argument("--out", help="output folder (default RUN_DIR/export)")
    p.add_argument("--name", default="model", help="file name stem (default model)")
    p.add_argument("--image", action="append", default=[], metavar="FILE",
                   help="also check parity on this image (repeatable)")
    p.add_argument("--text", action="append", default=[], metavar="TEXT",
                   help="text models: also check parity on this text (repeatable); the "
                   "tokenizer's files are written to OUT/NAME-tokenizer/")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="largest max-abs logit difference accepted (default 1e-3, fp32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.api.saved import export

    result = export(args.run_dir, args.format, out=args.out, images=args.image,
                    tolerance=args.tolerance, name=args.name, texts=args.text)
    for path in result.files:
        print(f"wrote {path}")
    print(f"parity: max abs diff {result.max_abs_diff:.3g} on the logits of {result.n_inputs} "
          f"inputs vs eager PyTorch (tolerance {result.tolerance:g})")
    return 0
