from __future__ import annotations

import pytest
import torch

from transferlab.backbones import create_backbone
from transferlab.backbones.adapt import adapt_conv_weight, adapt_input_channels
from transferlab.errors import ConfigError


def test_sum_mode_preserves_response_to_grey_images():
    torch.manual_seed(0)
    w = torch.randn(8, 3, 3, 3)
    grey = torch.randn(2, 1, 9, 9)
    rgb_out = torch.nn.functional.conv2d(grey.expand(-1, 3, -1, -1), w)
    grey_out = torch.nn.functional.conv2d(grey, adapt_conv_weight(w, 1, "sum"))
    assert torch.allclose(rgb_out, grey_out, atol=1e-5)


@pytest.mark.parametrize("mode", ["sum", "average", "repeat"])
@pytest.mark.parametrize("chans", [1, 2, 4])
def test_modes_keep_pretrained_information(mode, chans):
    w = torch.randn(4, 3, 3, 3)
    out = adapt_conv_weight(w, chans, mode)
    assert out.shape == (4, chans, 3, 3)
    assert torch.isfinite(out).all() and out.abs().sum() > 0


def test_unknown_mode():
    with pytest.raises(ConfigError, match="sum"):
        adapt_conv_weight(torch.randn(2, 3, 3, 3), 1, "zero")


def test_backbone_adaptation_changes_spec_and_keeps_features():
    bb = create_backbone("efficientnet_lite0", pretrained=False).eval()
    x = torch.rand(1, 1, 32, 32)
    before = bb(x.expand(-1, 3, -1, -1))
    adapt_input_channels(bb, 1, "sum")
    assert bb.spec.input_size[0] == 1 and len(bb.spec.mean) == 1
    assert torch.allclose(bb(x), before, atol=1e-4)
