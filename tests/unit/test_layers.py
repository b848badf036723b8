"""`transferlab layers`: the first k stage groups come from the backbone, the rest is a fresh
init, and the copied groups stay put while AnB trains."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from transferlab.api.layers import copy_stages, layer_phase, resolve_ks, transplant
from transferlab.backbones import create_backbone
from transferlab.config import RunConfig
from transferlab.errors import ConfigError

CLASSES = ["a", "b", "c"]


def group_tensors(backbone, group) -> list[torch.Tensor]:
    """Parameters and buffers of one stage group, in order."""
    return [t for m in group.modules for t in (*m.parameters(), *m.buffers())
            if t.is_floating_point()]


@pytest.fixture(scope="module")
def source():
    return create_backbone("efficientnet_lite0", pretrained=True)


@pytest.fixture(scope="module")
def fresh():
    """The seed-0 random init `transplant` starts from (k = 0 copies nothing)."""
    return transplant(RunConfig(device="cpu"), CLASSES, create_backbone(
        "efficientnet_lite0"), 0, seed=0).backbone


@pytest.mark.parametrize("k", [0, 1, 4, 8])
def test_exactly_the_first_k_groups_are_copied_the_rest_is_the_fresh_init(k, source, fresh):
    model = transplant(RunConfig(device="cpu"), CLASSES, source, k, seed=0)
    groups, src, new = (model.stage_groups(), source.stage_groups(), fresh.stage_groups())
    assert len(groups) == 8
    for i, g in enumerate(groups):
        mine, theirs, init = (group_tensors(None, g), group_tensors(None, src[i]),
                              group_tensors(None, new[i]))
        copied = [torch.equal(a, b) for a, b in zip(mine, theirs, strict=True)]
        fresh_init = [torch.equal(a, b) for a, b in zip(mine, init, strict=True)]
        if i < k:
            assert all(copied), (k, g.name)
        else:  # the same random init scratch gets; weights (not all buffers) differ from source
            assert all(fresh_init), (k, g.name)
            weights = [torch.equal(a, b) for a, b in zip(g.parameters(), src[i].parameters())]
            assert not any(w for w, p in zip(weights, g.parameters()) if p.dim() > 1), g.name
    assert model.spec.mean == source.spec.mean and not model.spec.pretrained


def test_copy_stages_counts_and_checks(source):
    target = create_backbone("efficientnet_lite0", pretrained=False)
    n2 = copy_stages(source, target, 2)
    expected = sum(len(m.state_dict()) for g in source.stage_groups()[:2] for m in g.modules)
    assert n2 == expected > 0
    assert copy_stages(source, target, 8) == len(source.state_dict())
    with pytest.raises(ConfigError, match="choose 0 to 8"):
        copy_stages(source, target, 9)
    assert resolve_ks(None, 3) == [0, 1, 2, 3] and resolve_ks([3, 0, 3], 3) == [0, 3]
    with pytest.raises(ConfigError):
        resolve_ks([5], 3)


def test_frozen_groups_do_not_change_while_anb_trains(tmp_path, source):
    from tests.conftest import write_folder
    from transferlab.data import load_dataset, make_splits
    from transferlab.engine.recipe import auto_recipe
    from transferlab.engine.trainer import Trainer

    root = write_folder(tmp_path / "imgs", classes=3, per_class=8)
    data = load_dataset(str(root), "train", image_size=32)
    splits = make_splits(data, None, per_class=None, val_fraction=0.0, seed=0,
                         test_fraction=0.25)
    k = 3
    model = transplant(RunConfig(device="cpu"), data.classes, source, k, seed=0)
    recipe = auto_recipe(len(splits.train), model.spec, 32, torch.device("cpu"),
                         {"image_size": 32, "epochs": 2, "batch_size": 9, "lr": 1e-2})
    before = {n: t.clone() for n, t in model.state_dict().items()}
    Trainer(model, splits, recipe, [layer_phase(recipe, k, frozen=True)], torch.device("cpu"),
            0, log=lambda *_: None).run()
    frozen = {id(t) for g in model.stage_groups()[:k] for t in group_tensors(None, g)}
    after = model.state_dict(keep_vars=True)
    same = {n: torch.equal(before[n], after[n].detach()) for n in before
            if after[n].is_floating_point()}
    in_frozen = {n for n, t in after.items() if id(t) in frozen}
    assert in_frozen and all(same[n] for n in in_frozen)  # weights and BN statistics
    assert not all(same[n] for n in same if n not in in_frozen)  # the rest trained


@pytest.mark.slow
def test_layers_cli_on_tiny_data(tmp_path):
    from tests.conftest import write_folder

    root = write_folder(tmp_path / "imgs", classes=3, per_class=8)
    proc = subprocess.run(
        [sys.executable, "-m", "transferlab", "layers", "--data", str(root), "--ks", "0,8",
         "--seeds", "2", "--image-size", "32", "--epochs", "1", "--batch-size", "12",
         "--device", "cpu", "--out", str(tmp_path), "--name", "l"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "frozen (AnB)" in proc.stdout and "fine-tuned (AnB+)" in proc.stdout
    table = [line.split() for line in proc.stdout.splitlines() if line[:3].strip() in "08"
             and line[:3].strip()]
    assert [row[0] for row in table] == ["0", "8"]
    data = json.loads((tmp_path / "l" / "layers.json").read_text())
    assert [r["k"] for r in data["rows"]] == [0, 8] and data["seeds"] == [0, 1]
    k0 = data["rows"][0]
    assert k0["frozen"]["values"] == k0["finetuned"]["values"]  # k = 0: the same run
    assert all(0 <= v <= 1 for r in data["rows"] for s in ("frozen", "finetuned")
               for v in r[s]["values"])
    assert data["rows"][1]["frozen"]["ci95"] is not None  # two seeds: an interval
    for name in ("layers.png", "report.html", "config.yaml"):
        assert (tmp_path / "l" / name).is_file()
