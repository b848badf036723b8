"""How many held-out images a temperature needs before it lowers ECE on new images (issue 17).

Takes a calibration bench's saved runs (no retraining), recomputes each model's raw test
logits (undoing its stored T) and splits the test images in two seeded halves: T is fitted on
draws of n images from half A, the product's way (MAP fit with the log-T prior, then the
evidence gate), and judged by ECE on half B, which none of the draws saw. Per n it prints, over
the draws, how often ECE on B went down, stayed (gate kept T = 1) or went up, and the mean ECE
on B. The last column, `oracle`, is B's ECE at the T that minimises NLL on B itself: the most a
single temperature can do for that model.

    python bench/calibration_heldout_size.py /tmp/calib-bench-XXXX
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from transferlab.results import calibration as cal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_recheck import raw_logits  # noqa: E402

SIZES = (50, 100, 200, 500, 1000)


def ece_at(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    return cal.ece(cal.softmax(logits / t), labels)


def table_line(run: Path, draws: int, seed: int) -> str:
    logits, labels, _ = raw_logits(run, "test")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    a, b = order[: len(order) // 2], order[len(order) // 2:]
    base = ece_at(logits[b], labels[b], 1.0)
    cells = []
    for n in SIZES:
        if n > len(a):
            cells.append(f"{'-':>24}")
            continue
        lower = same = higher = 0
        eces = []
        for _ in range(draws if n < len(a) else 1):  # all of half A: one fit, not n draws
            pick = rng.choice(a, size=n, replace=False)
            t = cal.fit_temperature(logits[pick], labels[pick])  # prior + gate, as fit does
            e = ece_at(logits[b], labels[b], t)
            eces.append(e)
            lower += e < base
            same += e == base
            higher += e > base
        cells.append(f"{lower:>4}/{same:>3}/{higher:>3} {np.mean(eces):>6.4f}")
    t_star = cal.fit_temperature(logits[b], labels[b], prior_sd=None, alpha=None)
    return (f"{run.name:<20}{base:>8.4f}" + "".join(f"{c:>26}" for c in cells)
            + f"{ece_at(logits[b], labels[b], t_star):>9.4f} (T*={t_star:.3f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="a calibration bench's run folders (printed at its end)")
    p.add_argument("--glob", default="*", help="which run folders (default all)")
    p.add_argument("--draws", type=int, default=50, help="draws of n images per size")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    print(f"T fitted on n images of test half A (prior + gate), ECE on half B; per n: "
          f"lower/unchanged/higher of {args.draws} draws, mean ECE on B")
    print(f"{'run':<20}{'ECE T=1':>8}" + "".join(f"{'n=' + str(n):>26}" for n in SIZES)
          + f"{'oracle':>9}")
    for run in sorted(Path(args.folder).glob(args.glob)):
        if (run / "config.yaml").is_file():
            print(table_line(run, args.draws, args.seed), flush=True)


if __name__ == "__main__":
    main()
