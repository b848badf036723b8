"""The optimizer and learning-rate schedule of a train phase, built in one place.

The Trainer builds them here, and so does any script that trains the way the Trainer does
(bench/rank_top_tune.py), so a change to the recipe's optimizer or schedule reaches both.
The schedule is a pure function of the global step: a run resumed at any step sets exactly the
learning rates an uninterrupted run would have set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from transferlab.engine.param_groups import Trainable, build_param_groups
from transferlab.engine.strategies import Phase, Recipe

SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class LRSchedule:
    """LR multiplier per global step: linear warmup, then cosine to zero or flat.

    `start` is the global step at which the phase began, so a later phase of a run warms up
    again from its own first step. "constant" is the naive baseline recipe's schedule.
    """

    total_steps: int
    warmup_frac: float
    kind: str = "cosine"
    start: int = 0

    @property
    def warmup_steps(self) -> int:
        if self.warmup_frac <= 0:
            return 0
        return max(1, int(self.total_steps * self.warmup_frac))

    def __call__(self, step: int) -> float:
        step -= self.start
        warmup = self.warmup_steps
        if step < warmup:
            return (step + 1) / warmup
        if self.kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, self.total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))



def apply_lr(optimizer: torch.optim.Optimizer, scale: float) -> None:
    """Set every group's LR to its own `base_lr` times `scale` (a schedule's multiplier).

    Multiplying each group's base keeps the head/backbone and layer-decay ratios that
    `build_param_groups` chose; overwriting with one LR would erase them.
    """
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * scale


def lr_schedule(total_steps: int, warmup_frac: float, kind: str = "cosine") -> LRSchedule:
    """The schedule of a phase of `total_steps` steps that starts at step 0."""
    return LRSchedule(total_steps, warmup_frac, kind)


def phase_schedule(phase: Phase, recipe: Recipe, steps_per_epoch: int,
                   start: int = 0) -> LRSchedule:
    """The schedule the Trainer uses for `phase`: its epochs at the recipe's warmup and kind."""
    return LRSchedule(phase.epochs * steps_per_epoch, recipe.warmup_frac, recipe.schedule, start)


def build_optimizer(model: Trainable, phase: Phase, recipe: Recipe) -> torch.optim.AdamW:
    """AdamW over the named groups of `build_param_groups` at the phase's learning rates.

    The head trains at `phase.lr`, backbone stages at `phase.lr * phase.backbone_lr_mult`
    (times `phase.layer_decay ** depth` when set); norms and biases get no weight decay.
    Frozen parameters are left out, so call it after freezing.
    """
    groups = build_param_groups(model, phase.lr, phase.backbone_lr_mult, recipe.weight_decay,
                                phase.layer_decay)
    return torch.optim.AdamW(groups, lr=phase.lr)
