"""Batch preprocessing in torch, on whatever device the batch lives on.

uint8 (B, C, h, w) → float (B, 3, S, S), normalised with the WeightsSpec's mean/std (the numbers
live in `data.preprocess.Preprocess`, shared with exported serving). Training
augmentation (random translation of ±`shift` pixels at source scale, horizontal flip) and the
resize are one `grid_sample` call, so augmenting costs one pass over the batch on CPU or GPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from transferlab.data.preprocess import Preprocess

__all__ = ["Preprocess", "eval_batch", "train_batch"]


def _match_channels(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    c = x.shape[1]
    if c == in_chans:
        return x
    if c == 1:
        return x.expand(-1, in_chans, -1, -1)  # grayscale → N identical channels
    if in_chans == 1:
        return x.mean(dim=1, keepdim=True)
    raise ValueError(f"cannot feed {c}-channel images to a {in_chans}-channel model")


def _normalise(x: torch.Tensor, p: Preprocess) -> torch.Tensor:
    mean = torch.tensor(p.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(p.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def eval_batch(images: torch.Tensor, p: Preprocess) -> torch.Tensor:
    """Deterministic resize + normalise."""
    x = images.float().div_(255.0)
    if x.shape[-1] != p.size or x.shape[-2] != p.size:
        x = F.interpolate(x, size=(p.size, p.size), mode=p.interpolation, align_corners=False,
                          antialias=x.shape[-1] > p.size)
    return _normalise(_match_channels(x, p.in_chans), p)


def train_batch(images: torch.Tensor, p: Preprocess, generator: torch.Generator,
                shift: float = 2.0, flip: bool = True) -> torch.Tensor:
    """Random translate (±`shift` source pixels) + flip + resize + normalise, in one resample."""
    x = images.float().div_(255.0)
    b, _, h, w = x.shape
    if x.shape[-1] > 2 * p.size:  # big source images: anti-aliased downscale first
        x = F.interpolate(x, size=(p.size, p.size), mode=p.interpolation, antialias=True)
        h = w = p.size
    g_dev = generator.device
    rand = torch.rand(b, 3, generator=generator, device=g_dev).to(x.device)
    theta = torch.zeros(b, 2, 3, device=x.device)
    sx = torch.where(rand[:, 2] < 0.5, -1.0, 1.0) if flip else torch.ones(b, device=x.device)
    theta[:, 0, 0] = sx
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = (rand[:, 0] * 2 - 1) * shift * 2.0 / w
    theta[:, 1, 2] = (rand[:, 1] * 2 - 1) * shift * 2.0 / h
    grid = F.affine_grid(theta, [b, x.shape[1], p.size, p.size], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _normalise(_match_channels(x, p.in_chans), p)
