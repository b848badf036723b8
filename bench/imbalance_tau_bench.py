"""How far could any post-hoc prior shift go? A scan over its strength τ (issue 17, balance).

`--balance logit-adjust` subtracts τ·log π (τ = 1, π the training class shares) from a trained
model's logits. This reads the `none-SEED` runs that `bench/imbalance_bench.py --out DIR` left
(models trained without balancing), predicts all 10,000 Fashion-MNIST test images once per
model, and prints balanced accuracy for a range of τ. The best τ per seed is chosen *on the test
set*: an oracle, not a method, so its gain over τ = 0 is the most that any single post-hoc
shift of the prior could give these models; τ = 1 is what auto does.

    python bench/imbalance_bench.py --out runs/bench-imbalance     # trains the models first
    python bench/imbalance_tau_bench.py runs/bench-imbalance
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from transferlab.data import load_dataset
from transferlab.data.transforms import Preprocess
from transferlab.engine.loop import predict_logits
from transferlab.model import load_model

TAUS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def balanced_accuracy(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> float:
    return float(torch.stack([(pred[y == c] == c).float().mean()
                              for c in range(n_classes)]).mean())


def log_prior(run_dir: Path, classes: list[str]) -> torch.Tensor:
    """log of each class's share of the run's training images (its data.json)."""
    counts = json.loads((run_dir / "data.json").read_text())["train"]["class_counts"]
    n = torch.tensor([float(counts.get(c, 0)) for c in classes])
    return torch.log(n.clamp_min(1) / n.sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", help="the --out folder of bench/imbalance_bench.py")
    args = p.parse_args()
    runs = sorted(Path(args.runs).glob("none-*/model.safetensors"))
    if not runs:
        raise SystemExit(f"{args.runs}: no none-SEED/model.safetensors; run "
                         f"bench/imbalance_bench.py --out {args.runs} first")
    test = load_dataset("fashion-mnist", "test")
    cpu = torch.device("cpu")
    print(f"balanced accuracy on all {len(test)} test images, logits - τ·log π "
          "(τ = 1: --balance logit-adjust)")
    print(f"{'run':>8} " + " ".join(f"{'τ=' + format(t, 'g'):>7}" for t in TAUS)
          + f" {'best τ':>7} {'oracle gain':>12} {'τ=1 gain':>9}")
    for path in runs:
        net = load_model(path)
        lp = log_prior(path.parent, test.classes)
        pre = Preprocess.from_spec(net.spec, net.info.image_size)
        logits = predict_logits(net, test, pre, cpu, desc=path.parent.name)
        scores = [balanced_accuracy((logits - t * lp).argmax(-1), test.labels,
                                    len(test.classes)) for t in TAUS]
        best = max(range(len(TAUS)), key=scores.__getitem__)
        print(f"{path.parent.name:>8} " + " ".join(f"{s:>7.4f}" for s in scores)
              + f" {TAUS[best]:>7g} {100 * (scores[best] - scores[0]):>+11.2f}p"
              + f" {100 * (scores[TAUS.index(1.0)] - scores[0]):>+8.2f}p", flush=True)


if __name__ == "__main__":
    main()
