"""LoRA rank vs head-only and full fine-tuning of MiniLM on the project's texts (issue 20 §2).

Runs `head`, `lora` at each rank (alpha = 2 x rank, as peft's common r 8 / alpha 16) and
`finetune` on the same seeded few-shot split of tests/data/texts.csv, and prints test accuracy,
trainable parameters and wall time per run. Run folders go to a temporary folder unless --out.

    python bench/lora_bench.py --quick          # 10 per class, 1 seed, 200 test texts (minutes)
    python bench/lora_bench.py                  # 10 and 50 per class, 3 seeds, all test texts
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

from transferlab.api.runner import prepare_data, run_strategy
from transferlab.config import RunConfig

TEXTS = Path(__file__).parents[1] / "tests" / "data" / "texts.csv"


def variants(ranks: list[int]) -> list[tuple[str, str, dict]]:
    """(label, strategy, extra settings) of every column of the table."""
    lora = [(f"lora r{r}", "lora", {"lora_rank": r, "lora_alpha": 2.0 * r}) for r in ranks]
    return [("head", "head", {}), *lora, ("finetune", "finetune", {})]


def run_one(label: str, strategy: str, extra: dict, per_class: int, seed: int, args,
            out: Path) -> tuple[float, int, float]:
    """(test accuracy, trainable parameters, wall seconds) of one run."""
    name = f"{label.replace(' ', '-')}-{per_class}-{seed}"
    cfg = RunConfig(data=str(args.data), backbone=args.backbone, per_class=per_class, seed=seed,
                    device=args.device, max_test=args.max_test or None, out=str(out),
                    name=name, calibration="none", **extra)
    splits = prepare_data(cfg, log=lambda *_: None)
    t0 = time.perf_counter()
    result = run_strategy(cfg, strategy, splits, out / name, log=lambda *_: None)
    wall = time.perf_counter() - t0
    saved = yaml.safe_load((out / name / "config.yaml").read_text())
    return result.metrics["accuracy"], saved["trainable_params"]["trainable"], wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(TEXTS))
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--per-class", default="10,50")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--ranks", default="4,8,16")
    p.add_argument("--max-test", type=int, default=0, help="0 = every test text")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    p.add_argument("--quick", action="store_true", help="10 per class, seed 0, 200 test texts")
    args = p.parse_args()
    if args.quick:
        args.per_class, args.seeds, args.max_test = "10", "0", 200
    seeds = [int(s) for s in args.seeds.split(",")]
    ranks = [int(r) for r in args.ranks.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        print(f"# lora_bench: data {args.data}, backbone {args.backbone}, per class "
              f"{args.per_class}, seeds {seeds}, ranks {ranks}, max test "
              f"{args.max_test or 'all'}, device {args.device}, threads "
              f"{torch.get_num_threads()}")
        print(f"{'per class':>9} {'variant':>10} {'mean acc':>9} {'min':>7} {'max':>7} "
              f"{'trainable':>11} {'mean s':>7}")
        for per_class in [int(x) for x in args.per_class.split(",")]:
            for label, strategy, extra in variants(ranks):
                runs = [run_one(label, strategy, extra, per_class, s, args, out) for s in seeds]
                accs = [a for a, _, _ in runs]
                print(f"{per_class:>9} {label:>10} {statistics.mean(accs):>9.4f} "
                      f"{min(accs):>7.4f} {max(accs):>7.4f} {runs[0][1]:>11,} "
                      f"{statistics.mean(w for _, _, w in runs):>7.1f}", flush=True)


if __name__ == "__main__":
    main()
