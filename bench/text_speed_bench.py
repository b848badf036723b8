"""Text on a CPU: batches of one length instead of padded mixed batches (issue 20).

A text batch is padded to its longest text, and real quotations vary: Debian's fortunes run
from a few tokens to MiniLM's 128-token cap (median 27, mean 42). Two levers, each measured
against the old path in one process, so both see the same machine:

1. inference (features, test prediction): rows in file order vs longest first
   (`engine.inference.longest_first`): seconds, texts/s, the ratio and the largest feature
   difference (the order must not change a text's output);
2. training: `fit` with random batches vs `group_by_length` (`engine.loop.epoch_batches`), per
   strategy, budget and seed: test accuracy and wall seconds of each, and the ratio.

Uses text_bench.py's fortunes split (the same 6 categories, 40 test texts each, split seed 0).
Run it alone: anything else on the cores moves the seconds.

    python bench/text_speed_bench.py                   # inference + finetune 10,50 x 2 seeds
    python bench/text_speed_bench.py --skip-training   # inference only (~7 minutes on 2 cores)
    python bench/text_speed_bench.py --quick           # does it run? (tiny, measures nothing)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import text_bench  # noqa: E402  (bench/ is not a package)


class InFileOrder:
    """A text split without token lengths: inference then batches its rows in file order."""

    def __init__(self, data) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, *args, **kwargs):
        return self.data.batch(*args, **kwargs)


def inference_rounds(train_csv: Path, limit: int, rounds: int) -> None:
    from transferlab.data.text_files import load_text_csv
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.features import compute_features
    from transferlab.model import build_model

    data = load_text_csv(train_csv)
    data = data.subset(torch.arange(min(limit, len(data))))
    model = build_model("minilm", data.classes)
    data.prepare_for(model)
    pre = Preprocess.from_spec(model.spec, model.spec.input_size[-1])
    lengths = data.token_lengths().float()
    print(f"inference: {len(data)} fortunes, MiniLM features, batch 256, tokens per text median "
          f"{lengths.median():.0f}, mean {lengths.mean():.1f}, max {lengths.max():.0f}")
    print("round  file order s  longest first s  texts/s (file, longest)  speed-up  max |diff|")
    cpu = torch.device("cpu")
    for r in range(rounds):
        t0 = time.perf_counter()
        plain = compute_features(model.backbone, InFileOrder(data), pre, cpu)
        t1 = time.perf_counter()
        sorted_ = compute_features(model.backbone, data, pre, cpu)
        t2 = time.perf_counter()
        a, b = t1 - t0, t2 - t1
        diff = float((plain - sorted_).abs().max())
        print(f"{r:5d}  {a:12.2f}  {b:15.2f}  {len(data) / a:10.1f} {len(data) / b:10.1f}   "
              f"{a / b:7.2f}x  {diff:.2e}", flush=True)


def training_rows(args: argparse.Namespace, train_csv: Path, test_csv: Path, out: Path) -> None:
    from transferlab.api.workflows import fit

    print("strategy  per class  seed  random acc  grouped acc  random s  grouped s  speed-up")
    summary: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    for strategy in args.strategies.split(","):
        for budget in args.per_class.split(","):
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                row = {}
                # alternate which mode goes first, so a load that changes during the run
                # (another job ending) does not favour one mode on every seed
                for grouped in (False, True) if seed % 2 == 0 else (True, False):
                    name = f"{strategy}-{budget}-{seed}-{'grouped' if grouped else 'random'}"
                    t0 = time.perf_counter()
                    run = fit(str(train_csv), strategy, "minilm", test_data=str(test_csv),
                              per_class=0 if budget == "all" else int(budget), seed=seed,
                              calibration="none", device="cpu", out=str(out), log=None,
                              name=name,
                              recipe={"group_by_length": grouped,
                                      **({"epochs": args.epochs} if args.epochs else {})})
                    row[grouped] = (run.metrics["accuracy"], time.perf_counter() - t0)
                (acc_r, s_r), (acc_g, s_g) = row[False], row[True]
                summary.setdefault((strategy, budget), []).append((acc_r, acc_g, s_r, s_g))
                print(f"{strategy:9s} {budget:>9s} {seed:5d}  {acc_r:10.4f}  {acc_g:11.4f}  "
                      f"{s_r:8.1f}  {s_g:9.1f}  {s_r / s_g:7.2f}x", flush=True)
    for (strategy, budget), rows in summary.items():
        diff = [g - r for r, g, _, _ in rows]
        ratio = sum(x[2] for x in rows) / sum(x[3] for x in rows)
        print(f"{strategy} {budget} per class: accuracy grouped - random mean "
              f"{statistics.mean(diff):+.4f} (per seed {', '.join(f'{d:+.4f}' for d in diff)}); "
              f"wall random / grouped {ratio:.2f}x")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategies", default="finetune")
    p.add_argument("--per-class", default="10,50")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="default: the auto recipe's")
    p.add_argument("--texts", type=int, default=100_000, help="inference: at most this many")
    p.add_argument("--rounds", type=int, default=2, help="inference rounds")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--skip-inference", action="store_true")
    p.add_argument("--fortunes", default=str(text_bench.FORTUNES))
    p.add_argument("--out", help="keep run folders here (default: a temporary folder)")
    p.add_argument("--quick", action="store_true", help="64 texts, 1 round, finetune 10 per "
                   "class, 1 seed, 1 epoch: checks it runs, measures nothing")
    args = p.parse_args()
    if args.quick:
        args.texts, args.rounds, args.per_class, args.seeds, args.epochs = 64, 1, "10", 1, 1
    return args


def main() -> None:
    args = parse()
    with tempfile.TemporaryDirectory(prefix="transferlab-text-speed-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        texts = text_bench.load_categories(text_bench.ensure_fortunes(Path(args.fortunes)),
                                           text_bench.CATEGORIES)
        train_csv, test_csv, _ = text_bench.write_split(texts, 40, 0, out)
        print(f"text speed bench: torch {torch.__version__}, {torch.get_num_threads()} "
              f"thread(s); fortunes split as text_bench.py (seed 0)", flush=True)
        if not args.skip_inference:
            inference_rounds(train_csv, args.texts, args.rounds)
        if not args.skip_training:
            training_rows(args, train_csv, test_csv, out)


if __name__ == "__main__":
    main()
