"""Cheaper fine-tuning on a CPU: accuracy and train seconds of training-budget variants (issue 18).

Each variant is `NAME=STRATEGY[:KEY=VALUE;...]` with recipe settings as overrides, e.g.
`p3-10=partial:freeze_stages=3;epochs=10` (fine-tune with the stem and the first two block
groups frozen, 10 epochs). Every variant trains on the same seeded Fashion-MNIST sample per seed
(the compare default: 100 per class, the auto recipe's 96 px) and is scored on the same test
images, so a variant's accuracy can be set against the default's seed by seed. One line per run
is printed as it finishes (a stopped bench keeps its rows), then the table.

    OMP_NUM_THREADS=1 python bench/budget_bench.py --seeds 0,1,2 \
        --variants ft=finetune,p3=partial:freeze_stages=3,ft10=finetune:epochs=10

Train seconds are the strategy's wall from `run_strategy` (training, validation, test
prediction); they are only comparable between runs that had the CPU alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from transferlab.api.runner import prepare_data, run_strategy
from transferlab.config import RunConfig

DEFAULT_VARIANTS = "ft=finetune,p3=partial:freeze_stages=3,ft10=finetune:epochs=10"


def parse_variant(text: str) -> tuple[str, str, dict]:
    """`p3=partial:freeze_stages=3;epochs=10` -> ("p3", "partial", {...}); values are numbers
    when they parse as numbers."""
    name, _, rest = text.partition("=")
    strategy, _, settings = rest.partition(":")
    overrides: dict = {}
    for item in filter(None, settings.split(";")):
        key, _, value = item.partition("=")
        try:
            overrides[key] = int(value)
        except ValueError:
            try:
                overrides[key] = float(value)
            except ValueError:
                overrides[key] = value
    if not name or not strategy:
        raise SystemExit(f"bad --variants entry {text!r}: write NAME=STRATEGY[:KEY=VALUE;...]")
    return name, strategy, overrides


def split_variants(text: str) -> list[str]:
    """Variants are comma-separated; a variant's own settings are separated by ';'."""
    return [v for v in text.split(",") if v]


def run_one(variant: tuple[str, str, dict], seed: int, args) -> tuple[float, float]:
    name, strategy, overrides = variant
    cfg = RunConfig(data=args.data, per_class=args.per_class, seed=seed, device="cpu",
                    max_test=args.max_test or None, out=args.out, name=f"{name}-{seed}",
                    recipe=dict(overrides))
    splits = prepare_data(cfg, log=lambda *_: None)
    t0 = time.perf_counter()
    result = run_strategy(cfg, strategy, splits, Path(args.out) / cfg.name, log=lambda *_: None)
    return result.metrics["accuracy"], time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default=DEFAULT_VARIANTS,
                   help="NAME=STRATEGY[:KEY=VALUE;KEY=VALUE],... (default: %(default)s)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--max-test", type=int, default=0, help="0 = all 10,000 test images")
    p.add_argument("--out", default="runs/bench-budget")
    args = p.parse_args()
    variants = [parse_variant(v) for v in split_variants(args.variants)]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: dict[str, list[tuple[float, float]]] = {v[0]: [] for v in variants}
    for seed in seeds:
        for variant in variants:
            acc, secs = run_one(variant, seed, args)
            rows[variant[0]].append((acc, secs))
            print(f"run {variant[0]} seed {seed}: accuracy {acc:.4f}, {secs:.1f} s", flush=True)
    print(f"\n{'variant':<8} {'setting':<40} {'mean acc':>8} {'sd':>6} {'mean s':>7}  per seed")
    for name, strategy, overrides in variants:
        accs = [a for a, _ in rows[name]]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        setting = strategy + (" " + ",".join(f"{k}={v}" for k, v in overrides.items())
                              if overrides else "")
        print(f"{name:<8} {setting:<40} {statistics.mean(accs):>8.4f} {sd:>6.4f} "
              f"{statistics.mean(s for _, s in rows[name]):>7.1f}  "
              + " ".join(f"{a:.4f}" for a in accs), flush=True)


if __name__ == "__main__":
    main()
