"""The in-memory text set: same interface as ImageSet, so the image engine trains text unchanged.

Texts are kept raw until a model is known, because the tokenizer belongs to the backbone: the
runner calls `prepare_for(model)` once the model is built, which tokenises every text once into
padded (N, L) id/mask tensors. `batch()` then cuts rows and trims them to the longest sequence in
the batch, so short texts do not pay for the longest one in the set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from transferlab.data.dataset import BadFile, Labelled
from transferlab.errors import ConfigError, DataError


class TokenBatch(dict):
    """{input_ids, attention_mask} that also slices by rows like a tensor batch: `x[lo:hi]`
    is what the engine does to keep one process's share of a batch under torchrun."""

    def __getitem__(self, key):
        if isinstance(key, slice):
            return TokenBatch({k: v[key] for k, v in self.items()})
        return super().__getitem__(key)


@dataclass
class TextSet(Labelled):
    texts: list[str]
    labels: torch.Tensor  # int64 class indices, or float32 targets for regression
    classes: list[str]
    source: str
    skipped: list[BadFile] = field(default_factory=list)
    paths: list[str] | None = None  # "file:line" (CSV) or the file (folder) of each text
    max_length: int | None = None  # token cap; None = what the model was built/trained with
    input_ids: torch.Tensor | None = None  # int64 (N, L), right-padded; set by tokenize()
    attention_mask: torch.Tensor | None = None
    token_key: str = ""  # tokenizer, length and pooling the ids were made for

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"{self.source}: {len(self.texts)} texts but {len(self.labels)} "
                            "labels")

    @property
    def source_size(self) -> int:
        """Padded token length (0 before tokenising); the text recipe does not depend on it."""
        return int(self.input_ids.shape[1]) if self.input_ids is not None else 0

    def subset(self, index: torch.Tensor) -> TextSet:
        rows = index.tolist()
        paths = [self.paths[i] for i in rows] if self.paths is not None else None
        ids = self.input_ids[index] if self.input_ids is not None else None
        mask = self.attention_mask[index] if self.attention_mask is not None else None
        return TextSet([self.texts[i] for i in rows], self.labels[index], self.classes,
                       self.source, self.skipped, paths, self.max_length, ids, mask,
                       self.token_key)

    def prepare_for(self, model) -> None:
        """Tokenise with `model`'s tokenizer; records the length used in the model's info.

        The length is written into ModelInfo.extra so a saved model truncates texts at
        prediction time exactly as it did in training.
        """
        backbone = getattr(model, "backbone", model)
        tokenizer = getattr(backbone, "tokenizer", None)
        if tokenizer is None:
            raise ConfigError(
                f"{self.source} holds texts, but backbone {backbone.spec.architecture} takes "
                "images; use a text backbone: --backbone minilm or --backbone hf:PATH")
        info = getattr(model, "info", None)
        saved = info.extra.get("max_length") if info is not None else None
        length = min(self.max_length or saved or backbone.max_length, backbone.max_positions)
        self.tokenize(tokenizer, length, f"{backbone.pooling}")
        if info is not None:
            info.extra["max_length"] = length

    def tokenize(self, tokenizer, max_length: int, tag: str = "") -> None:
        """Token ids for every text, truncated to `max_length`, padded to the longest one."""
        key = f"{getattr(tokenizer, 'name_or_path', '')}|{len(tokenizer)}|{max_length}|{tag}"
        if key == self.token_key and self.input_ids is not None:
            return
        ids = tokenizer(self.texts, truncation=True, max_length=max_length)["input_ids"]
        width = max((len(row) for row in ids), default=1)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.input_ids = torch.full((len(ids), width), pad, dtype=torch.int64)
        self.attention_mask = torch.zeros((len(ids), width), dtype=torch.int64)
        for i, row in enumerate(ids):
            self.input_ids[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
            self.attention_mask[i, :len(row)] = 1
        self.token_key = key

    def batch(self, index: torch.Tensor, pre: object = None, device: torch.device | str = "cpu",
              train: bool = False, generator: torch.Generator | None = None,
              shift: float = 2.0, flip: bool = True) -> TokenBatch:
        """Model input for rows `index`: {input_ids, attention_mask}, trimmed to the batch's
        longest text. Image arguments (preprocess, augmentation) are accepted and ignored."""
        if self.input_ids is None or self.attention_mask is None:
            raise DataError(f"{self.source}: texts are not tokenised yet; call "
                            "prepare_for(model) first (the runner does this once the model "
                            "is built)")
        mask = self.attention_mask[index]
        width = max(1, int(mask.sum(1).max())) if len(mask) else 1
        return TokenBatch(input_ids=self.input_ids[index, :width].to(device, non_blocking=True),
                          attention_mask=mask[:, :width].to(device, non_blocking=True))

    def token_lengths(self) -> torch.Tensor | None:
        """Real tokens per text (None before tokenising): inference batches texts of similar
        length together so that little of each batch is padding (engine/inference.py)."""
        if self.attention_mask is None:
            return None
        return self.attention_mask.sum(1).cpu()

    def place(self, device: torch.device) -> str:
        """Keep the token ids on `device` (the trainer asks every split): a few MB at most,
        so batches need no host copies per step."""
        if self.input_ids is None or self.attention_mask is None:
            return f"{len(self)} texts, not tokenised"
        self.input_ids = self.input_ids.to(device)
        self.attention_mask = self.attention_mask.to(device)
        return f"{len(self)} texts x {self.input_ids.shape[1]} tokens on {device}"

    def fingerprint(self) -> str:
        """Content hash (texts, labels, classes) plus how they were tokenised and pooled:
        feature caches key on it, and the same texts give other features under another
        tokenizer, length or pooling."""
        h = hashlib.sha256()
        h.update("\0".join(self.texts).encode("utf-8", "surrogatepass"))
        self._hash_labels(h)
        h.update(self.token_key.encode())
        return h.hexdigest()[:32]

    def summary(self) -> dict:
        return {
            "source": self.source,
            "texts": len(self),
            "max_tokens": self.source_size or None,
            **self._label_summary(),
        }
