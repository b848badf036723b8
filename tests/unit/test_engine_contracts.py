"""Engine contracts: the optimizer a phase gets, the Trainer running the Phase it is given,
step hooks (how tests inject faults), and the freeze state the trainer owns and checkpoints."""

from __future__ import annotations

import pytest
import torch

from transferlab.data import DataSplits, ImageSet
from transferlab.engine.checkpoint import load_checkpoint
from transferlab.engine.freezing import FreezeState, freeze_stages
from transferlab.engine.loop import StepContext
from transferlab.engine.optim import build_optimizer
from transferlab.engine.strategies import Phase, Recipe
from transferlab.engine.trainer import Trainer
from transferlab.errors import CheckpointError
from transferlab.model import build_model

RECIPE = Recipe(32, 2, 8, 1e-2, weight_decay=0.05, warmup_frac=0.0)
PARTIAL = Phase("partial", "train", 1, frozen=2, lr=1e-2, backbone_lr_mult=0.1, bn="frozen")


class Boom(Exception):
    """What the test hook raises: a fault in the middle of an epoch."""


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("efficientnet_lite0", ["a", "b"], pretrained=False)


def _data(n: int, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 255, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    return ImageSet(images, torch.tensor([0, 1] * (n // 2)), ["a", "b"], f"random{seed}")


def _trainer(model, phase: Phase, hooks=(), ckpt=None) -> Trainer:
    splits = DataSplits(_data(16, 0), None, _data(4, 1))
    return Trainer(model, splits, RECIPE, [phase], torch.device("cpu"), 0, ckpt,
                   log=lambda *_: None, compile_mode="off", step_hooks=hooks)


def _stage_state(model, k: int) -> list[torch.Tensor]:
    return [t.detach().clone() for s in model.stage_groups()[:k] for m in s.modules
            for t in (*m.parameters(), *m.buffers())]


def test_build_optimizer_groups_no_decay_on_norms_and_biases_head_vs_backbone_lr(model):
    freeze_stages(model, PARTIAL.frozen, PARTIAL.bn)
    opt = build_optimizer(model, PARTIAL, RECIPE)
    assert isinstance(opt, torch.optim.AdamW)
    for g in opt.param_groups:
        no_decay = g["name"].endswith(".no_decay")
        assert g["weight_decay"] == (0.0 if no_decay else RECIPE.weight_decay), g["name"]
        assert all((p.ndim <= 1) == no_decay for p in g["params"]), g["name"]
        lr = PARTIAL.lr * (1.0 if g["name"].startswith("head") else PARTIAL.backbone_lr_mult)
        assert g["lr"] == g["base_lr"] == pytest.approx(lr), g["name"]
    placed = [id(p) for g in opt.param_groups for p in g["params"]]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(placed) == len(set(placed)) and set(placed) == trainable  # frozen ones left out
    norms = [p for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
             for p in m.parameters() if p.requires_grad]
    no_decay_ids = {id(p) for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert norms and all(id(p) in no_decay_ids for p in norms)
    stages = {g["name"].removeprefix("backbone.").removesuffix(".no_decay")
              for g in opt.param_groups if g["name"].startswith("backbone.")}
    assert stages and not stages & {s.name for s in model.stage_groups()[:2]}


def test_trainer_runs_the_phase_it_is_given(model):
    steps: list[int] = []
    frozen_before = _stage_state(model, 2)
    head_before = model.head[0].weight.detach().clone()
    t = _trainer(model, PARTIAL, hooks=[lambda ctx: steps.append(ctx.global_step)])
    progress = t.run()
    assert steps == [1, 2]  # 16 images, batch 8: the recipe's batch size, one epoch
    assert all(torch.equal(a, b) for a, b in zip(frozen_before, _stage_state(model, 2)))
    assert not torch.equal(head_before, model.head[0].weight)
    assert t.freeze == FreezeState(2, "frozen")
    layout = {g["name"]: g["lr"] for g in t.param_layout}
    assert layout["head"] == pytest.approx(PARTIAL.lr)
    assert all(lr == pytest.approx(PARTIAL.lr * 0.1) for n, lr in layout.items()
               if n.startswith("backbone."))
    assert [r["phase"] for r in progress.history] == ["partial"]
    assert not [k for k in vars(model) if "frozen" in k or "bn_policy" in k]


def test_step_hook_fault_keeps_the_epoch_checkpoint_with_its_freeze_state(model, tmp_path):
    def fault(ctx: StepContext) -> None:
        if ctx.global_step == 3:
            raise Boom

    two_epochs = Phase("partial", "train", 2, frozen=2, lr=1e-2, backbone_lr_mult=0.1)
    with pytest.raises(Boom):
        _trainer(model, two_epochs, hooks=[fault], ckpt=tmp_path / "ckpt").run()
    _, opt, progress, _ = load_checkpoint(tmp_path / "ckpt")
    assert (progress["global_step"], progress["epoch"]) == (2, 1) and opt is not None
    assert progress["freeze"] == {"frozen": 2, "bn": "frozen"}

    other = Phase("partial", "train", 2, frozen=1, lr=1e-2, backbone_lr_mult=0.1)
    with pytest.raises(CheckpointError, match="froze"):
        _trainer(model, other, ckpt=tmp_path / "ckpt").run(resume=True)
    done = _trainer(model, two_epochs, ckpt=tmp_path / "ckpt").run(resume=True)
    assert done.global_step == 4 and len(done.history) == 2
