"""The built-in Fashion-MNIST source/target split (data/demo_split.py) on the real IDX files."""

from __future__ import annotations

import pytest
import torch

from transferlab.config import RunConfig
from transferlab.data.idx import DEBIAN_FASHION_MNIST, load_idx
from transferlab.data.sources import load_dataset

pytestmark = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(),
                                reason="needs Debian's dataset-fashion-mnist")


def test_source_and_target_are_disjoint_halves_relabelled():
    full = load_idx(DEBIAN_FASHION_MNIST, "test")
    src = load_dataset("fashion-mnist-source", "test")
    tgt = load_dataset("fashion-mnist-target", "test")
    assert src.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    assert tgt.classes == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert len(src) + len(tgt) == len(full) == 10000
    assert sorted(src.labels.unique().tolist()) == sorted(tgt.labels.unique().tolist()) == [
        0, 1, 2, 3, 4]
    # the first target image is the first full image of class >= 5, with its label minus 5
    first = int(torch.nonzero(full.labels >= 5)[0])
    assert torch.equal(tgt.images[0], full.images[first])
    assert int(tgt.labels[0]) == int(full.labels[first]) - 5


def test_harmful_variants_are_what_they_say_and_repeatable():
    src = load_dataset("fashion-mnist-source", "test")
    inv = load_dataset("fashion-mnist-source-inverted", "test")
    assert torch.equal(inv.images, 255 - src.images)
    assert torch.equal(inv.labels, src.labels)
    shuf = load_dataset("fashion-mnist-source-shuffled", "test")
    again = load_dataset("fashion-mnist-source-shuffled", "test")
    assert torch.equal(shuf.labels, again.labels)
    agree = (shuf.labels == src.labels).float().mean().item()
    assert 0.15 < agree < 0.25  # random labels over 5 classes: about 1 in 5 by chance
    assert torch.equal(shuf.images, src.images)


def test_target_is_few_shot_by_default_and_source_uses_everything():
    assert RunConfig(data="fashion-mnist-target").per_class == 100
    assert RunConfig(data="fashion-mnist-source").per_class == 0
