"""Class imbalance: what `--balance` resolves to for a training split, and the weights it uses.

Minority classes in a few-shot split are easily ignored: a model that never predicts them loses
little plain accuracy. Two remedies act on training only, never on what is measured:
"weights" scales each image's loss by its class weight (inverse frequency), "sampler" draws
class-balanced batches (with replacement, same epoch length). "auto" turns weights on when the
largest class has more than AUTO_RATIO times the images of the smallest, and the run's log and
config.yaml say what was chosen and why. Regression has no classes: auto means none there, and
asking for weights or a sampler is refused where the config is built (config.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from transferlab.errors import ConfigError

AUTO_RATIO = 3.0  # auto balances above this largest/smallest class-count ratio
MODES = ("none", "weights", "sampler")
_SAY = {"none": "none", "weights": "class weights", "sampler": "class-balanced sampler"}


def class_weights(counts: list[int] | torch.Tensor) -> torch.Tensor:
    """Weights ∝ 1/count, mean 1 over the classes present; 0 for a class with no images.

    Only ratios matter to the loss (a weighted mean divides by the batch's weight sum); the mean
    of 1 makes the saved numbers readable: above 1 a class counts more than average.
    """
    c = torch.as_tensor(counts, dtype=torch.float64)
    present = c > 0
    if not bool(present.any()):
        raise ConfigError("class weights need at least one class with training images")
    w = torch.zeros_like(c)
    w[present] = 1.0 / c[present]
    return (w / w[present].mean()).float()


@dataclass(frozen=True)
class Balance:
    """The resolved `--balance` of one run: `mode` is what training does, `setting` what was
    asked; `weights` are per class index (None when the mode is none)."""

    setting: str
    mode: str
    ratio: float | None = None
    weights: tuple[float, ...] | None = None
    classes: tuple[str, ...] = ()
    reason: str = ""

    @property
    def active(self) -> bool:
        return self.mode != "none"

    @property
    def loss_weights(self) -> torch.Tensor | None:
        """Per-class loss weights for the "weights" mode; None otherwise (plain mean)."""
        return torch.tensor(self.weights) if self.mode == "weights" else None

    def sample_weights(self, labels: torch.Tensor) -> torch.Tensor | None:
        """Per-image draw weights for the "sampler" mode (each class drawn equally often)."""
        if self.mode != "sampler":
            return None
        return torch.tensor(self.weights, dtype=torch.float64)[labels]

    @property
    def probe_weights(self) -> list[float] | None:
        """Class weights for the closed-form linear probe: it has no batches to resample, so
        both modes weight its loss (sampling by 1/count equals weighting by it in expectation)."""
        return list(self.weights) if self.active and self.weights is not None else None

    def line(self) -> str:
        """The one log line: what was asked, what it became, and the counts behind it."""
        if self.setting == "auto":
            return f"balance: auto → {_SAY[self.mode]}" + (
                f" ({self.reason})" if self.reason else "")
        why = f"; {self.reason}" if self.reason else ""
        return f"balance: {_SAY[self.mode]} (--balance {self.setting}{why})"

    def to_dict(self) -> dict:
        """What config.yaml records under `balance:` (the resolved choice and its weights)."""
        out: dict = {"setting": self.setting, "resolved": self.mode, "reason": self.reason,
                     "largest_smallest_ratio": self.ratio}
        if self.weights is not None and self.active:
            out["class_weights"] = {c: round(w, 6) for c, w in zip(self.classes, self.weights)}
        return out


NO_BALANCE = Balance("none", "none")


def resolve_balance(setting: str, labels: torch.Tensor, classes: list[str]) -> Balance:
    """What `setting` means for this training split's labels (float labels: regression)."""
    if setting not in ("auto", *MODES):
        raise ConfigError(f"--balance {setting}: choose auto, none, weights or sampler")
    if labels.is_floating_point():
        if setting in ("weights", "sampler"):
            raise ConfigError(f"--balance {setting}: regression has no classes to balance; "
                              "use --balance auto or none")
        return Balance(setting, "none", reason="regression" if setting == "auto" else "")
    counts = torch.bincount(labels, minlength=len(classes))
    present = [i for i, n in enumerate(counts.tolist()) if n > 0]
    big = max(present, key=lambda i: (int(counts[i]), -i))
    small = min(present, key=lambda i: (int(counts[i]), i))
    ratio = float(counts[big]) / float(counts[small])
    mode = setting
    if setting == "auto":
        mode = "weights" if ratio > AUTO_RATIO else "none"
    why = (f"largest/smallest = {ratio:.1f}"
           + (f" {'>' if ratio > AUTO_RATIO else '≤'} {AUTO_RATIO:g}" if setting == "auto" else "")
           + f": {classes[big]!r} {int(counts[big])}, {classes[small]!r} {int(counts[small])}")
    weights = tuple(class_weights(counts).tolist())
    return Balance(setting, mode, round(ratio, 4), weights, tuple(classes), why)
