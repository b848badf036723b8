"""Frozen BN keeps its statistics; freezing follows stage groups; param groups are right."""

from __future__ import annotations

import pytest
import torch

from transferlab.data.transforms import Preprocess
from transferlab.engine.freezing import freeze_stages, set_train_mode
from transferlab.engine.loop import StepContext, train_one_epoch
from transferlab.engine.param_groups import build_param_groups
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

    freeze_stages(m, 0, bn)
    data = ImageSet(torch.randint(0, 255, (16, 3, 32, 32), dtype=torch.uint8),
                    torch.tensor([0, 1] * 8), ["a", "b"], "random")
    groups = build_param_groups(m, 1e-2, 1.0, 0.0)
    opt = torch.optim.AdamW(groups)
    set_train_mode(m)
    pre = Preprocess(32, (0.5,) * 3, (0.25,) * 3)
    before = m.head[0].weight.clone()
    train_one_epoch(m, data, pre, opt, lambda s: 1.0, StepContext(0, 0, 0, 0), 8,
                    torch.device("cpu"))
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
    assert all(not p.requires_grad for s in stages[:3] for p in s.parameters())
    assert all(p.requires_grad for s in stages[3:] for p in s.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    with pytest.raises(ConfigError, match="stages"):
        freeze_stages(model, 99, "frozen")


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
