"""Frozen BN keeps its statistics; freezing follows stage groups; param groups are right."""

from __future__ import annotations

import pytest
import torch

from transferlab.data.transforms import Preprocess
from transferlab.engine.freezing import FreezeState, freeze_stages, set_train_mode
from transferlab.engine.loop import StepContext, train_one_epoch
from transferlab.engine.optim import build_optimizer, lr_schedule
from transferlab.engine.param_groups import build_param_groups
from transferlab.engine.strategies import Phase, Recipe
from transferlab.errors import ConfigError
from transferlab.model import build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("efficientnet_lite0", ["a", "b"], pretrained=False)


def _bn_stats(m):
    return {n: b.running_mean.clone() for n, b in m.named_modules()
            if isinstance(b, torch.nn.BatchNorm2d)}


def _train_a_little(m, bn):
    from transferlab.data import ImageSet

    state = freeze_stages(m, 0, bn).state
    data = ImageSet(torch.randint(0, 255, (16, 3, 32, 32), dtype=torch.uint8),
                    torch.tensor([0, 1] * 8), ["a", "b"], "random")
    phase = Phase("finetune", "train", 1, 0, 1e-2, 1.0, bn=bn)
    recipe = Recipe(32, 1, 8, 1e-2, weight_decay=0.0, warmup_frac=0.0, schedule="constant")
    opt = build_optimizer(m, phase, recipe)
    set_train_mode(m, state)
    pre = Preprocess(32, (0.5,) * 3, (0.25,) * 3)
    before = m.head[0].weight.clone()
    train_one_epoch(m, data, pre, opt, lr_schedule(2, 0.0, "constant"), StepContext(0, 0, 0, 0),
                    phase, recipe, torch.device("cpu"))
    assert not torch.equal(before, m.head[0].weight)  # it did train


@pytest.mark.parametrize("bn,moves", [("frozen", False), ("train", True)])
def test_bn_policy(model, bn, moves):
    before = _bn_stats(model)
    _train_a_little(model, bn)
    after = _bn_stats(model)
    changed = [n for n in before if not torch.equal(before[n], after[n])]
    assert bool(changed) is moves
    if bn == "frozen":
        assert all(not b.training for b in model.modules()
                   if isinstance(b, torch.nn.BatchNorm2d))


def test_partial_freeze_by_stage_groups(model):
    report = freeze_stages(model, 3, "frozen")
    stages = model.stage_groups()
    assert report.frozen_stages == [s.name for s in stages[:3]]
    assert report.state == FreezeState(3, "frozen")
    assert not [k for k in vars(model) if "frozen" in k or "bn_policy" in k]  # no hidden state
    assert all(not p.requires_grad for s in stages[:3] for p in s.parameters())
    assert all(p.requires_grad for s in stages[3:] for p in s.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    with pytest.raises(ConfigError, match="stages"):
        freeze_stages(model, 99, "frozen")


def test_set_train_mode_follows_the_state_it_is_given(model):
    """BN of the first k stages stays in eval under the "train" policy; the rest trains."""
    freeze_stages(model, 2, "train")
    stages = model.stage_groups()

    def bns(group):
        return [m for mod in group.modules for m in mod.modules()
                if isinstance(m, torch.nn.BatchNorm2d)]

    set_train_mode(model, FreezeState(2, "train"))
    assert bns(stages[0]) and all(not b.training for s in stages[:2] for b in bns(s))
    assert all(b.training for s in stages[2:] for b in bns(s))
    set_train_mode(model, FreezeState())  # nothing frozen: plain model.train()
    assert all(m.training for m in model.modules())


def test_param_groups_lr_and_no_decay(model):
    freeze_stages(model, 0, "frozen")
    groups = build_param_groups(model, 1e-3, 0.1, 0.05, layer_decay=0.5)
    by_name = {g["name"]: g for g in groups}
    assert by_name["head"]["lr"] == pytest.approx(1e-3)
    assert by_name["head.no_decay"]["weight_decay"] == 0.0
    assert all(p.ndim <= 1 for g in groups if g["name"].endswith("no_decay") for p in g["params"])
    names = [g["name"] for g in groups if g["name"].startswith("backbone.")
             and not g["name"].endswith("no_decay") and g["name"] != "backbone.other"]
    lrs = [by_name[n]["lr"] for n in names]
    assert lrs == sorted(lrs) and lrs[-1] == pytest.approx(1e-4)  # deeper = larger LR
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for _ in model.parameters())
