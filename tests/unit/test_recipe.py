"""Recipe settings: where each value comes from, and which validation epoch is kept."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from transferlab.backbones.weights import WeightsSpec
from transferlab.config import RunConfig
from transferlab.engine.recipe import auto_recipe
from transferlab.engine.trainer import Progress, Trainer

SPEC = WeightsSpec(architecture="efficientnet_lite0", source="test", input_size=(3, 224, 224))


def _recipe(cfg: RunConfig):
    return auto_recipe(900, SPEC, 28, torch.device("cpu"), cfg.recipe_overrides())


def test_recipe_dict_is_kept_when_flags_are_unset():
    # A YAML `recipe:` block (and bench/recipe_bench.py's naive recipe) sets lr/epochs/bn there.
    r = _recipe(RunConfig(recipe={"lr": 1e-3, "epochs": 10, "bn": "train", "schedule": "constant"}))
    assert (r.lr, r.epochs, r.bn, r.schedule) == (1e-3, 10, "train", "constant")


def test_flag_beats_recipe_dict():
    assert _recipe(RunConfig(lr=5e-4, recipe={"lr": 1e-3})).lr == 5e-4


def test_unset_everything_is_the_auto_recipe():
    auto = auto_recipe(900, SPEC, 28, torch.device("cpu"))
    assert _recipe(RunConfig()) == auto


def _selector():
    model = torch.nn.Linear(2, 1)
    return SimpleNamespace(progress=Progress(), model=model, best_state=None)


def test_best_epoch_tie_goes_to_later_epoch_but_is_no_gain():
    t = _selector()
    for score, weight in ((0.5, 1.0), (0.8, 2.0), (0.8, 3.0), (0.7, 4.0)):
        with torch.no_grad():
            t.model.weight.fill_(weight)
        Trainer._select_best(t, score)
    assert t.best_state["weight"].flatten().tolist() == [3.0, 3.0]  # the later 0.8
    assert t.progress.best_metric == 0.8
    assert t.progress.bad_epochs == 2  # the tie and the drop: patience still counts them


def test_small_input_warns_names_the_flag_and_the_fix():
    from transferlab.engine.recipe import small_input_warning

    small = _recipe(RunConfig(image_size=32))
    msg = small_input_warning(small, SPEC)
    assert msg is not None and "--image-size 32" in msg and "--image-size 64" in msg
    assert small_input_warning(_recipe(RunConfig()), SPEC) is None  # auto: 96 px on a CPU
    text = WeightsSpec(architecture="minilm", source="test", input_size=(128,), modality="text")
    assert small_input_warning(small, text) is None


def test_text_recipe_groups_batches_by_length_and_images_do_not():
    text = WeightsSpec(architecture="minilm", source="test", input_size=(128,), modality="text")
    cpu = torch.device("cpu")
    assert auto_recipe(100, text, 0, cpu).group_by_length is True
    assert auto_recipe(100, text, 0, cpu, {"group_by_length": False}).group_by_length is False
    assert auto_recipe(100, SPEC, 28, cpu).group_by_length is False
