"""The splits a run needs: test held out first, the few-shot budget, validation inside it."""


from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch

from transferlab.data.dataset import ImageSet
from transferlab.data.listing import DataWarning
from transferlab.data.sampling import per_class_sample, stratified_split
from transferlab.errors import DataError


@dataclass
class DataSplits:
    train: ImageSet
    val: ImageSet | None
    test: ImageSet
    warnings: list[str] = field(default_factory=list)  # also in data.json
    health: dict | None = None  # data/health.py's check of these splits, for data.json

    def prepare_for(self, model) -> None:
        """Let each split adapt to the built model (text: tokenise with its tokenizer)."""
        for part in (self.train, self.val, self.test):
            if part is not None and hasattr(part, "prepare_for"):
                part.prepare_for(model)

    def summary(self) -> dict:
        return {
            "train": self.train.summary(),
            "val": self.val.summary() if self.val is not None else None,
            "test": self.test.summary(),
            "warnings": self.warnings,
            **({"health": self.health} if self.health is not None else {}),
        }


MIN_VAL_PER_CLASS = 3


def _val_is_informative(pool: ImageSet, val_fraction: float) -> bool:
    """Hold out validation only where it can tell epochs apart.

    One validation image per class (10 per class at the default 10%) moves in steps of a whole
    class: best-epoch selection then picks the first epoch that happens to get them right, often
    a half-trained one, and the held-out images are lost to training. Under MIN_VAL_PER_CLASS
    the whole budget trains and the run keeps its final weights (the cosine schedule's end).
    """
    if pool.is_regression:
        return len(pool) >= 10
    smallest = min(pool.class_counts().values())
    return round(smallest * val_fraction) >= MIN_VAL_PER_CLASS


def make_splits(full_train: ImageSet, test: ImageSet | None, per_class: int | None,
                val_fraction: float, seed: int, test_fraction: float = 0.2) -> DataSplits:
    """Budget → train/val (val comes out of the labelled budget), and a test set.

    Without a separate test split, a stratified `test_fraction` of the data is held out first,
    so the few-shot budget is never drawn from test images.
    """
    pool = full_train
    held_out = test is None
    if held_out:
        rest, held = stratified_split(pool.labels, test_fraction, seed + 1)
        test, pool = pool.subset(held), pool.subset(rest)
    notes = [] if pool.is_regression else small_class_notes(pool, test, held_out, per_class)
    if per_class is not None and not pool.is_regression:
        pool = pool.subset(per_class_sample(pool.labels, per_class, seed))
    val = None
    if val_fraction > 0 and _val_is_informative(pool, val_fraction):
        rest, held = stratified_split(pool.labels, val_fraction, seed + 2)
        pool, val = pool.subset(rest), pool.subset(held)
    if len(pool) == 0:
        raise DataError(f"{full_train.source}: no training images left after splitting")
    if not pool.is_regression and len(torch.unique(pool.labels)) < 2:
        raise DataError(f"{full_train.source}: training needs at least 2 classes")
    for note in notes:
        warnings.warn(note, DataWarning, stacklevel=2)
    return DataSplits(pool, val, test, notes)


def small_class_notes(pool: ImageSet, test: ImageSet, held_out: bool,
                      per_class: int | None) -> list[str]:
    """Warnings naming the classes too small for the split asked for, with their counts.

    A class with no training image at all cannot be learned: that is an error naming it.
    """
    train_n, test_n = pool.class_counts(), test.class_counts()
    empty = [c for c, n in train_n.items() if n == 0]
    if empty:
        raise DataError(f"{pool.source}: class(es) {', '.join(map(repr, empty))} have no usable "
                        "training images (every file was bad; --on-bad-file error lists them); "
                        "fix or add images, or remove the class")
    notes = []
    untested = [c for c, n in test_n.items() if n == 0]
    if untested:
        counts = ", ".join(f"{c!r} has {train_n[c]}" for c in untested)
        if held_out:
            notes.append(f"{len(untested)} class(es) too small to hold out a test image get 0 "
                         f"test images ({counts} in all): test metrics say nothing about "
                         "them; add images or pass --test-data")
        else:
            notes.append(f"{len(untested)} class(es) have no image in the test set "
                         f"{test.source} ({counts} training images): test metrics say nothing "
                         "about them; add test images for them")
    if per_class is not None:
        short = [(c, n) for c, n in train_n.items() if n < per_class]
        if short:
            counts = ", ".join(f"{c!r} has {n}" for c, n in short)
            notes.append(f"--per-class {per_class} is more than {len(short)} class(es) have "
                         f"({counts} training images); they train on all they have")
    return notes
