"""The built-in source/target split of Fashion-MNIST, for the pretrain → transfer story.

Yosinski et al. ("How transferable are features in deep neural networks?", 2014) split one
dataset's classes into two disjoint halves A and B, pretrain on A and transfer to B. Here A is
Fashion-MNIST classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat) and B classes 5-9
(Sandal, Shirt, Sneaker, Bag, Ankle boot): real images, no download, and a target whose classes
the source never saw. Two deliberately harmful sources make negative transfer testable:

  fashion-mnist-source           classes 0-4, labels 0-4
  fashion-mnist-target           classes 5-9, relabelled 0-4
  fashion-mnist-source-shuffled  classes 0-4 with every label replaced by a seeded random one
                                 (Zhang et al. 2017: a network memorises noise, features rot)
  fashion-mnist-source-inverted  classes 0-4 with pixels inverted (255 - x): same labels,
                                 a different low-level input distribution than the target
"""

from __future__ import annotations

from pathlib import Path

import torch

from transferlab.data.dataset import ImageSet
from transferlab.data.idx import FASHION_CLASSES, load_idx

SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
SHUFFLE_SEED = 1234

DEMO_SPLITS = {
    "fashion-mnist-source": (SOURCE_CLASSES, ""),
    "fashion-mnist-target": (TARGET_CLASSES, ""),
    "fashion-mnist-source-shuffled": (SOURCE_CLASSES, "shuffled"),
    "fashion-mnist-source-inverted": (SOURCE_CLASSES, "inverted"),
}


def is_demo_split(name: str) -> bool:
    return name.lower() in DEMO_SPLITS


def load_demo_split(name: str, directory: Path, split: str) -> ImageSet:
    """One split of a demo task: the chosen classes relabelled 0..k-1, then the variant applied.

    The variant is a pure function of the images and a fixed seed, so the same name always
    means the same data (and the same data fingerprint in a run's provenance).
    """
    classes, variant = DEMO_SPLITS[name.lower()]
    full = load_idx(directory, split)
    keep = torch.isin(full.labels, torch.tensor(classes))
    index = torch.nonzero(keep).flatten()
    images = full.images[index]
    remap = torch.full((10,), -1, dtype=torch.int64)
    remap[torch.tensor(classes)] = torch.arange(len(classes))
    labels = remap[full.labels[index]]
    if variant == "shuffled":
        g = torch.Generator().manual_seed(SHUFFLE_SEED + (split == "test"))
        labels = torch.randint(0, len(classes), (len(labels),), generator=g)
    elif variant == "inverted":
        images = 255 - images
    names = [FASHION_CLASSES[c] for c in classes]
    return ImageSet(images=images.contiguous(), labels=labels, classes=names,
                    source=f"{name.lower()} from {directory} ({split})")
