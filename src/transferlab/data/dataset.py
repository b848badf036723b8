"""The in-memory image set every source produces.

Images are decoded once into uint8 (N, C, H, W): a tensor in memory for small sets, or for a
folder larger than memory the rows of its decode-cache file (data/diskimages.py), read per
batch. Batches are cut from it and augmented in torch on the training device; there are no
per-sample Python transforms and no DataLoader workers to crash on a bad file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from transferlab.data.diskimages import DiskImages
from transferlab.errors import DataError


@dataclass(frozen=True)
class BadFile:
    """One input that could not be used, and why; reported by path, never silently dropped."""

    path: str
    reason: str


class Labelled:
    """Label bookkeeping every data type shares (ImageSet, TextSet): what differs between them
    is only the inputs, so sizes, class counts, label hashing and bad-file reports live here."""

    labels: torch.Tensor  # int64 class indices, or float32 targets for regression
    classes: list[str]
    skipped: list[BadFile]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_regression(self) -> bool:
        return self.labels.is_floating_point()

    @property
    def num_classes(self) -> int:
        return 1 if self.is_regression else len(self.classes)

    def class_counts(self) -> dict[str, int]:
        if self.is_regression:
            return {}
        counts = torch.bincount(self.labels, minlength=len(self.classes)).tolist()
        return dict(zip(self.classes, counts))

    def _hash_labels(self, h: hashlib._Hash) -> None:
        """The label part of a data type's fingerprint (labels, then class names)."""
        h.update(self.labels.contiguous().numpy().tobytes())
        h.update("\0".join(self.classes).encode())

    def _label_summary(self) -> dict:
        return {"classes": self.classes, "class_counts": self.class_counts(),
                "skipped": len(self.skipped),
                "skipped_files": [{"path": b.path, "reason": b.reason} for b in self.skipped]}


@dataclass
class ImageSet(Labelled):
    images: torch.Tensor | DiskImages  # uint8 (N, C, H, W), in memory or file-backed
    labels: torch.Tensor  # int64 class indices, or float32 targets for regression
    classes: list[str]
    source: str
    skipped: list[BadFile] = field(default_factory=list)
    paths: list[str] | None = None
    originals: dict | None = None  # sizes/modes of the source files (all splits of the source)
    digests: list[str] | None = None  # content digest of each row's file (data/health.py)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(f"{self.source}: images must be uint8 (N, C, H, W)")
        if len(self.images) != len(self.labels):
            raise DataError(
                f"{self.source}: {len(self.images)} images but {len(self.labels)} labels")

    @property
    def file_backed(self) -> bool:
        return isinstance(self.images, DiskImages)

    def subset(self, index: torch.Tensor) -> ImageSet:
        """Rows `index`; a file-backed set selects rows without reading any pixels."""
        rows = index.tolist()
        paths = [self.paths[i] for i in rows] if self.paths is not None else None
        digests = [self.digests[i] for i in rows] if self.digests is not None else None
        images = (self.images.select(index) if isinstance(self.images, DiskImages)
                  else self.images[index])
        return ImageSet(images, self.labels[index], self.classes, self.source, self.skipped,
                        paths, self.originals, digests)

    @property
    def source_size(self) -> int:
        """Side of the stored images; the auto recipe picks a resolution from it."""
        return int(self.images.shape[-1])

    def batch(self, index: torch.Tensor, pre, device: torch.device, train: bool = False,
              generator: torch.Generator | None = None, shift: float = 2.0,
              flip: bool = True) -> torch.Tensor:
        """Model input for rows `index`: the one seam between a data type and the engine.

        Other data types (e.g. tokenised text) implement the same method and the engine,
        feature extraction and prediction work on them unchanged.
        """
        from transferlab.data.transforms import eval_batch, train_batch

        images = self.images[index].to(device, non_blocking=True)
        if train and generator is not None:
            return train_batch(images, pre, generator, shift, flip)
        return eval_batch(images, pre)

    def place(self, device: torch.device, budget: float = 0.5) -> str:
        """Keep the uint8 images on `device` when they fit in `budget` of its free memory.

        Then batches are cut, augmented and normalised on the GPU with no host copies per
        step; otherwise images stay in (pinned) host memory and each batch is copied over.
        File-backed images that do not fit stay in their cache file and each batch is read
        from it (pinning them would load the whole file into RAM).
        """
        from transferlab.engine.device import free_memory

        size_mb = self.images.numel() / 2**20
        free = free_memory(device)
        if self.file_backed and (free is None or self.images.numel() > budget * free):
            return (f"{size_mb:.0f} MB of images read per batch from the decode cache "
                    "(file-backed)")
        if free is None or self.images.device == device:
            return f"{size_mb:.0f} MB of images in {self.images.device.type} memory"
        if self.images.numel() <= budget * free:
            self.images = self.images.to(device)
            return f"{size_mb:.0f} MB of images kept on {device} (device-resident)"
        self.images = self.images.pin_memory()
        return (f"{size_mb:.0f} MB of images exceed {budget:.0%} of free {device} memory: "
                "pinned host memory, copied per batch")

    def fingerprint(self) -> str:
        """Content hash (images, labels, classes): the data part of every cache key."""
        h = hashlib.sha256()
        if isinstance(self.images, DiskImages):  # cache key = hash of file contents + size
            h.update(self.images.identity())
        else:
            h.update(self.images.cpu().contiguous().numpy().tobytes())
        self._hash_labels(h)
        return h.hexdigest()[:32]

    def summary(self) -> dict:
        return {
            "source": self.source,
            "images": len(self),
            "image_shape": list(self.images.shape[1:]),
            **({"originals": self.originals} if self.originals else {}),
            **self._label_summary(),
        }
