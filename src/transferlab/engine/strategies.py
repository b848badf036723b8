"""Each transfer strategy is a short list of phases, in the spirit of fastai's `fine_tune`.

A phase says what is frozen, how BatchNorm behaves, the learning rates and for how long; the
trainer runs phases in order and knows nothing about strategy names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from transferlab.errors import ConfigError


@dataclass(frozen=True)
class Phase:
    name: str
    kind: str  # "probe": closed-form head on cached features; "train": gradient descent
    epochs: int = 0
    frozen: int | str = 0  # leading stage groups frozen: int, or "all" for the whole backbone
    lr: float = 1e-3  # head learning rate
    backbone_lr_mult: float = 0.1
    layer_decay: float | None = None
    bn: str = "frozen"
    augment: bool = True
    lora: bool = False  # train LoRA adapters (engine/lora.py) in the frozen backbone + the head
    # whether the recipe's group_by_length applies; off for scratch: on fortunes a random-init
    # MiniLM scored lower on 7 of 9 paired seeds with batches of one length, 0.051 on average
    group_by_length: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters shared by every phase of a run; chosen by `auto_recipe` or flags."""

    image_size: int
    epochs: int
    batch_size: int
    lr: float
    backbone_lr_mult: float = 0.1
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    warmup_frac: float = 0.1
    schedule: str = "cosine"  # or "constant"
    shift: float = 2.0
    flip: bool = True
    bn: str = "frozen"
    patience: int | None = None
    layer_decay: float | None = None
    freeze_stages: int = 0
    grad_clip: float | None = 1.0
    scratch_lr_mult: float = 2.0  # scratch LR = lr x this; the text recipe uses 1
    group_by_length: bool = False  # texts: batches of similar token counts (loop.epoch_batches)
    # --strategy lora: adapter rank r, scale alpha (update = alpha / r * B @ A), which layers;
    # r 16 beat r 8 on MiniLM at 10 texts per class, 3 seeds (docs/TEXT.md, bench/lora_bench.py)
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_targets: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)


STRATEGIES = ("linear-probe", "head", "finetune", "partial", "gradual", "lp-ft", "lora",
              "scratch")
LORA_LR_MULT = 0.5  # adapters train at half the head's LR: 5e-4 on text, Hu et al.'s range


def phases_for(strategy: str, r: Recipe, num_stages: int) -> list[Phase]:
    """The phase list of a strategy under a recipe."""
    builders = {
        "linear-probe": lambda: [Phase("probe", "probe", frozen="all")],
        "head": lambda: [Phase("head", "train", r.epochs, "all", r.lr, 0.0, bn="frozen")],
        "finetune": lambda: [_finetune(r, "finetune", 0, r.bn)],
        "partial": lambda: [_finetune(r, "partial", r.freeze_stages, r.bn)],
        "gradual": lambda: _gradual(r, num_stages),
        # LP-FT keeps BN frozen: train-mode statistics of a few images destroy the probe head.
        "lp-ft": lambda: [Phase("probe", "probe", frozen="all"),
                          replace(_finetune(r, "finetune", 0, "frozen"), lr=r.lr * 0.5)],
        # LoRA: backbone frozen (BN too), adapters in it and the head train
        "lora": lambda: [Phase("lora", "train", r.epochs, "all", r.lr, LORA_LR_MULT,
                               bn="frozen", lora=True)],
        "scratch": lambda: [Phase("scratch", "train", r.epochs, 0, r.lr * r.scratch_lr_mult,
                                  1.0, bn="train", group_by_length=False)],
    }
    if strategy not in builders:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    return builders[strategy]()


def _finetune(r: Recipe, name: str, frozen: int, bn: str) -> Phase:
    return Phase(name, "train", r.epochs, frozen, r.lr, r.backbone_lr_mult, r.layer_decay, bn)


def _gradual(r: Recipe, num_stages: int) -> list[Phase]:
    """ULMFiT: head first, then unfreeze from the top, a few stages per phase."""
    steps = min(4, num_stages)
    per = max(1, r.epochs // (steps + 1))
    phases = [Phase("gradual-head", "train", per, "all", r.lr, 0.0, bn="frozen")]
    for i in range(1, steps + 1):
        frozen = max(0, num_stages - round(i * num_stages / steps))
        epochs = per if i < steps else max(1, r.epochs - per * steps)
        # ULMFiT's discriminative LRs: newly thawed stages train at most at a tenth of the
        # head's LR (a full LR on freshly unfrozen stages diverges on tiny data).
        phases.append(Phase(f"gradual-{i}", "train", epochs, frozen, r.lr,
                            min(r.backbone_lr_mult, 0.1), r.layer_decay, r.bn))
    return phases
