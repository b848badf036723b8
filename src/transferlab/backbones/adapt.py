"""Input adaptation: feed C-channel images to a network pretrained on RGB.

The first convolution's pretrained filters are folded or tiled, never re-initialised, so the
early layers keep responding to the same edges and textures they learned on the source task.
"""

from __future__ import annotations

import torch
from torch import nn

from transferlab.backbones import Backbone
from transferlab.errors import ConfigError

ADAPT_MODES = ("sum", "average", "repeat")


def adapt_conv_weight(weight: torch.Tensor, in_chans: int, mode: str = "sum") -> torch.Tensor:
    """(O, 3, k, k) → (O, in_chans, k, k).

    sum:     one channel = sum of RGB filters: a grey image x gives the same response as the
             RGB image (x, x, x) gave before (exact for in_chans == 1).
    average: mean of RGB filters, for inputs already scaled like one RGB channel.
    repeat:  tile RGB filters across channels and rescale by 3/in_chans to keep activations.
    """
    if mode not in ADAPT_MODES:
        raise ConfigError(f"unknown input adaptation {mode!r}; choose one of {ADAPT_MODES}")
    src = weight.shape[1]
    if in_chans == src:
        return weight.clone()
    if mode == "repeat" or in_chans > src and mode != "average":
        reps = -(-in_chans // src)
        return weight.repeat(1, reps, 1, 1)[:, :in_chans] * (src / in_chans)
    folded = weight.sum(dim=1, keepdim=True)
    if mode == "average":
        folded = folded / src
    return folded.repeat(1, in_chans, 1, 1) / (in_chans if mode == "sum" else 1)


def first_conv(backbone: Backbone) -> tuple[nn.Module, str, nn.Conv2d]:
    """(parent module, attribute name, conv) of the first Conv2d: the layer that sees the
    input channels, found by module order so it works for any architecture."""
    for name, module in backbone.net.named_modules():
        if isinstance(module, nn.Conv2d):
            *path, leaf = name.split(".")
            parent = backbone.net
            for part in path:
                parent = getattr(parent, part)
            return parent, leaf, module
    raise ConfigError(f"{backbone.spec.architecture} has no Conv2d input layer to adapt")


def adapt_input_channels(backbone: Backbone, in_chans: int, mode: str = "sum") -> Backbone:
    """Replace the first conv by one taking `in_chans` channels built from the pretrained one."""
    parent, leaf, conv = first_conv(backbone)
    if conv.in_channels == in_chans:
        return backbone
    if conv.groups != 1:
        raise ConfigError("the first convolution is grouped; input adaptation is not supported")
    new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, 1, conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(adapt_conv_weight(conv.weight, in_chans, mode))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    setattr(parent, leaf, new)
    backbone.spec = backbone.spec.with_channels(in_chans)
    return backbone
