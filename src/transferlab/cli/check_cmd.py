"""`transferlab check`: data health before training (duplicates, leakage, classes, bad files)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transferlab.config import load_config
from transferlab.errors import ConfigError

HELP = ("check data before training: exact and near-duplicate images, train↔test leakage, "
        "class balance, image sizes, bad files")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from transferlab.data.nearcopy import MIN_SIMILARITY

    p = sub.add_parser("check", help=HELP, description=HELP + ". Reads the data as `fit` does "
                       "(the decode cache is shared); exit code 0 whenever the check ran, "
                       "findings or not.")
    p.add_argument("--data", help="as for fit: fashion-mnist (default), an IDX folder, an "
                   "image folder (DIR/train + DIR/test if present), a CSV of path,label, or "
                   "text")
    p.add_argument("--test-data", help="separate test set checked against --data for leakage "
                   "(default: the source's test split)")
    p.add_argument("--min-similarity", type=float, default=MIN_SIMILARITY,
                   help="near-duplicates: the least best-shift correlation of two blurred "
                   f"images that counts as a copy (default {MIN_SIMILARITY}, chosen in "
                   "bench/check_bench.py; lower finds more altered copies and look-alikes)")
    p.add_argument("--json", dest="json_file", metavar="FILE",
                   help="also write the whole report (counts and examples) to FILE")
    p.add_argument("--image-size", type=int, help="stored image size (default: as fit "
                   "chooses it)")
    p.add_argument("--task", choices=["classification", "regression"])
    p.add_argument("--on-bad-file", choices=["skip", "error"],
                   help="skip and report bad files (default) or stop listing them")
    p.add_argument("--allow-outside-paths", action="store_true", default=None,
                   help="let CSV rows and links name files outside the data folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.api.check import check_config, validate

    out = Path(args.json_file) if args.json_file else None
    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise ConfigError(f"--json {out}: must be a file in an existing folder")
    try:
        validate(args.min_similarity)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(
            f"min_similarity {args.min_similarity!r} (--min-similarity)",
            f"--min-similarity {args.min_similarity}")) from None
    cfg = load_config(None, {"data": args.data, "test_data": args.test_data,
                             "image_size": args.image_size, "task": args.task,
                             "on_bad_file": args.on_bad_file,
                             "allow_outside_paths": args.allow_outside_paths})
    report = check_config(cfg, args.min_similarity)
    print(report.table())
    if out is not None:
        out.write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        print(f"report: {out}")
    return 0
