"""Test ECE before/after temperature scaling for finetune and lp-ft on Fashion-MNIST (issue 17).

Each cell is one `fit` through the Python API (auto recipe) at 10 and 100 labelled images per
class, 3 seeds. At 10 per class there is no validation split, so T comes from 3-fold
cross-fitting (engine/calibrate.py); at 100 per class from the validation split. `--modes
auto,holdout,crossfit` also runs each cell with those `--calibration` settings (T fitted on a
half of the validation split that did not choose the epoch; T cross-fitted on the training
images). `ECE @fit` is the test ECE at the fitted T where the evidence gate kept T = 1. The
last lines count, per mode, the runs whose ECE went down.

    python bench/calibration_bench.py                      # CPU-sized: 64 px, 2,000 test images
    python bench/calibration_bench.py --image-size 224 --max-test 0 --device cuda   # full
    python bench/calibration_bench.py --quick              # does it run? (tiny, minutes)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from transferlab.api.workflows import fit


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategies", default="finetune,lp-ft")
    p.add_argument("--per-class", default="10,100", help="comma-separated budgets")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--max-test", type=int, default=2000, help="0 = the whole 10,000")
    p.add_argument("--epochs", type=int, help="default: the auto recipe's")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--modes", default="auto",
                   help="comma-separated --calibration modes to run per cell (auto, validation, "
                   "holdout, crossfit)")
    p.add_argument("--quick", action="store_true",
                   help="1 seed, 32 px, 1 epoch, 200 test images: checks that it runs")
    args = p.parse_args()
    if args.quick:
        args.seeds, args.image_size, args.max_test, args.epochs = 1, 32, 200, 1
    return args


def main() -> None:
    args = parse()
    strategies = args.strategies.split(",")
    budgets = [int(b) for b in args.per_class.split(",")]
    print(f"calibration bench: data {args.data}, strategies {', '.join(strategies)}, "
          f"per class {budgets}, seeds {args.seeds}, image size {args.image_size}, "
          f"max test {args.max_test or 'all'}, epochs {args.epochs or 'auto'}, "
          f"device {args.device}{' (quick)' if args.quick else ''}")
    modes = args.modes.split(",")
    print(f"{'strategy':<10} {'per class':>9} {'seed':>4} {'mode':>8} {'accuracy':>8} "
          f"{'ECE before':>10} {'ECE after':>9} {'ECE @fit':>8} {'NLL before':>10} "
          f"{'NLL after':>9} {'T':>6} {'fitted':>6} {'p':>6} {'wall s':>7}  fitted on")
    out = Path(tempfile.mkdtemp(prefix="calib-bench-"))
    tally = {m: {"lower": 0, "unchanged": 0, "higher": 0, "fit lower": 0} for m in modes}
    for strategy in strategies:
        for per_class in budgets:
            for seed in range(args.seeds):
                for mode in modes:
                    _cell(args, strategy, per_class, seed, mode, out, tally[mode])
    for mode, t in tally.items():
        n = t["lower"] + t["unchanged"] + t["higher"]
        print(f"{mode}: ECE after vs before: lower {t['lower']} of {n}, unchanged "
              f"{t['unchanged']} (fitted T not applied: no evidence against T = 1), higher "
              f"{t['higher']}; at the fitted T, gate or not: lower {t['fit lower']} of {n}")
    print(f"run folders in {out}")


def _cell(args: argparse.Namespace, strategy: str, per_class: int, seed: int, mode: str,
          out: Path, tally: dict) -> None:
    extra = {"epochs": args.epochs} if args.epochs else {}
    t0 = time.perf_counter()
    run = fit(args.data, strategy, per_class=per_class, seed=seed, image_size=args.image_size,
              max_test=args.max_test or None, device=args.device, out=str(out),
              name=f"{strategy}-{per_class}-s{seed}-{mode}", log=None, calibration=mode,
              **extra)
    wall = time.perf_counter() - t0
    c = run.metrics["calibration"]
    b, a = c["before"], c["after"]
    at_fit = c.get("at_fitted", a)["ece"]
    tally[_direction(b["ece"], a["ece"])] += 1
    tally["fit lower"] += at_fit < b["ece"]
    fitted, p = c.get("fitted_temperature"), c.get("p_value")
    print(f"{strategy:<10} {per_class:>9} {seed:>4} {mode:>8} {run.metrics['accuracy']:>8.4f} "
          f"{b['ece']:>10.4f} {a['ece']:>9.4f} {at_fit:>8.4f} {b['nll']:>10.4f} "
          f"{a['nll']:>9.4f} {c['temperature']:>6.3f} {_num(fitted, 3):>6} {_num(p, 3):>6} "
          f"{wall:>7.1f}  {c['fitted_on']}", flush=True)


def _direction(before: float, after: float) -> str:
    return "lower" if after < before else "unchanged" if after == before else "higher"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
