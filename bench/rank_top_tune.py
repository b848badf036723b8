"""Would a fine-tuning-aware proxy rank the backbones better? A diagnostic for issue 6.

The frozen-feature estimators of `transferlab rank` put EfficientNet-Lite0 at or above Lite1 and
Lite2 on Fashion-MNIST at 100 images per class, while fine-tuning every layer puts Lite0 last of
the three (bench/rank_bench.py). This script tests the obvious fix: let the top of each network
adapt. It caches the activations that enter the last `--stages` stage groups, then trains
those stages, the 1x1 conv head and a new linear head on the labelled sample as the finetune
strategy trains them (the trainer's own optimizer and schedule from transferlab.engine.optim:
its phase's head and backbone learning rates, warmup + cosine schedule, weight decay except on
norms and biases, label smoothing, clipping, frozen BN; no augmentation, which cached
activations cannot take), and reports the 5-fold cross-validated accuracy per candidate, with
Kendall's tau against a rank-bench folder's fine-tuned accuracies.

It is a diagnostic, not an estimator: tuning even one stage this way costs a third to a half
of a fine-tune per candidate (measured in docs/RANKING.md), far over the ranking budget (10%).
If even this proxy orders the candidates like the frozen features do, the gap comes from the
early layers adapting, which no cheap proxy on the top of the network can see.

Timm EfficientNet family only (conv_stem, bn1, blocks, conv_head, bn2).

    OMP_NUM_THREADS=1 python bench/rank_top_tune.py --bench runs/bench-rank/rank-bench-DATE
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau
from sklearn.model_selection import StratifiedKFold
from torch import nn

from transferlab.api.runner import prepare_data
from transferlab.backbones.base import StageGroup
from transferlab.config import RunConfig
from transferlab.data.transforms import Preprocess
from transferlab.engine.loop import derived_seed, epoch_batches, train_step
from transferlab.engine.optim import apply_lr, build_optimizer, phase_schedule
from transferlab.engine.recipe import auto_recipe
from transferlab.engine.strategies import Recipe, phases_for
from transferlab.selection.ranking import build_candidate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", required=True,
                   help="a bench/rank_bench.py folder: its source-run candidate and its "
                        "ground_truth.json (the fine-tuned accuracies to compare with)")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of the labelled sample")
    p.add_argument("--stages", type=int, default=1, help="last stage groups that adapt")
    p.add_argument("--folds", type=int, default=5)
    return p.parse_args(argv)


@torch.inference_mode()
def stem_activations(net: nn.Module, images: torch.Tensor, stages: int) -> torch.Tensor:
    """What enters the last `stages` blocks: computed once, the frozen part never re-runs."""
    out = []
    for i in range(0, len(images), 256):
        h = net.bn1(net.conv_stem(images[i:i + 256]))
        for block in net.blocks[: len(net.blocks) - stages]:
            h = block(h)
        out.append(h)
    return torch.cat(out)


class Top(nn.Module):
    """A copy of the last stages + conv head, pooled (`backbone`, one stage group), with a new
    linear `head`: the shape `build_optimizer` takes, so it gets the trainer's groups."""

    def __init__(self, net: nn.Module, stages: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(*copy.deepcopy(list(net.blocks[len(net.blocks) - stages:])),
                                      copy.deepcopy(net.conv_head), copy.deepcopy(net.bn2),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(net.num_features, num_classes)

    def stage_groups(self) -> list[StageGroup]:
        return [StageGroup("top", (self.backbone,))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def trainable_top(net: nn.Module, stages: int, num_classes: int) -> Top:
    """The top in train mode with BN frozen, as the fine-tune recipe keeps it."""
    top = Top(net, stages, num_classes)
    top.train()
    for m in top.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    return top


def cv_accuracy(net: nn.Module, acts: torch.Tensor, labels: torch.Tensor, stages: int,
                recipe: Recipe, folds: int, seed: int) -> float:
    """Held-out accuracy over `folds` folds, each image held out once; every fold trains with
    the trainer's own step, batches and schedule, at the finetune phase's learning rates."""
    phase = phases_for("finetune", recipe, len(net.blocks))[0]
    correct = 0
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in split.split(np.zeros(len(labels)), labels.numpy()):
        top = trainable_top(net, stages, int(labels.max()) + 1)
        opt = build_optimizer(top, phase, recipe)
        train_idx = torch.as_tensor(train_idx)
        per_epoch = len(epoch_batches(len(train_idx), recipe.batch_size, 0))
        lr_at = phase_schedule(phase, recipe, per_epoch)
        step = 0
        for epoch in range(phase.epochs):
            for batch in epoch_batches(len(train_idx), recipe.batch_size,
                                       derived_seed(seed, 0, epoch)):
                idx = train_idx[batch]
                apply_lr(opt, lr_at(step))
                train_step(top, acts[idx], labels[idx], opt, torch.device("cpu"), recipe)
                step += 1
        top.eval()
        with torch.no_grad():
            test_idx = torch.as_tensor(test_idx)
            correct += int((top(acts[test_idx]).argmax(1) == labels[test_idx]).sum())
    return correct / len(labels)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Path(args.bench)
    truth = json.loads((bench / "ground_truth.json").read_text())
    cfg = RunConfig(data=args.data, per_class=args.per_class, image_size=args.image_size,
                    seed=args.seed, device="cpu")
    train = prepare_data(cfg).train
    scores, finetuned = {}, {}
    for name, runs in truth.items():
        t0 = time.perf_counter()
        backbone = build_candidate(name, args.seed).eval()
        recipe = auto_recipe(len(train), backbone.spec, train.source_size,
                             torch.device("cpu"), {"image_size": args.image_size})
        pre = Preprocess.from_spec(backbone.spec, args.image_size)
        images = train.batch(torch.arange(len(train)), pre, torch.device("cpu"))
        acts = stem_activations(backbone.net, images, args.stages)
        scores[name] = cv_accuracy(backbone.net, acts, train.labels, args.stages, recipe,
                                   args.folds, args.seed)
        finetuned[name] = statistics.fmean(r["accuracy"] for r in runs.values())
        print(f"{name:<60} top-tuned CV {scores[name]:.4f}   fine-tuned {finetuned[name]:.4f}"
              f"   {time.perf_counter() - t0:.1f}s", flush=True)
    names = list(scores)
    tau = kendalltau([scores[n] for n in names], [finetuned[n] for n in names]).statistic
    print(f"Kendall's tau, top-tuned CV accuracy vs fine-tuned accuracy: {tau:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
