"""A faster weight gradient for depthwise convolutions on feature maps smaller than the kernel,
on CPUs without AVX-512.

EfficientNet's last stages run 5x5 depthwise convolutions on 3x3 maps at 96 px (2x2 at 64 px).
For those, oneDNN's AVX2 build has no depthwise backward-weights kernel and falls back to a
generic im2col GEMM ("x64:gemm:jit" in ONEDNN_VERBOSE), one tiny GEMM per channel: on a 2-core
AVX2 CPU each such layer's weight gradient costs ~30 ms per batch of 32, sixty times its
forward pass, and the three of Lite0's stage 6 are a quarter of a train step
(bench/cpu_depthwise_bench.py, docs/PEER.md).

The same gradient is a grouped convolution with the roles swapped: for channel c,
dW[c] = sum over images n of xcorr(pad(x[n, c]), dY[n, c]), i.e. a convolution of the padded
input (images as input channels, one group per channel) with the output gradient as its kernel.
oneDNN runs that as an ordinary grouped convolution, 3-10x faster on these shapes. The input
gradient and the forward pass stay oneDNN's own. Nothing changes for evaluation, exports or
GPUs: the swapped class takes the new path only while training on a CPU with grad enabled.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _SmallMapDepthwise(torch.autograd.Function):
    """conv2d(x, weight, padding, groups=C), stride 1, no bias; backward computes the weight
    gradient as a grouped convolution."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor,
                padding: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        return F.conv2d(x, weight, None, 1, padding, 1, x.shape[1])

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, [1, 1], list(ctx.padding), [1, 1], False, [0, 0],
                x.shape[1], [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_w = depthwise_weight_grad(x, grad_out, ctx.padding)
        return grad_x, grad_w, None


def depthwise_weight_grad(x: torch.Tensor, grad_out: torch.Tensor,
                          padding: tuple[int, int]) -> torch.Tensor:
    """dL/dW of a stride-1 depthwise conv, (C, 1, kh, kw), from its input (N, C, H, W) and
    output gradient (N, C, Ho, Wo): one group per channel, the N images as its input
    channels, dY as the kernel. Its output is kh x kw by construction, since at stride 1
    Ho = H + 2p - kh + 1, so H + 2p - Ho + 1 = kh."""
    n, c, h, w = x.shape
    ho, wo = grad_out.shape[-2:]
    inputs = x.transpose(0, 1).reshape(1, c * n, h, w)
    kernels = grad_out.transpose(0, 1).reshape(c, n, ho, wo)
    return F.conv2d(inputs, kernels, None, 1, padding, 1, c).transpose(0, 1)


def small_map(kernel_size: tuple[int, ...], input_shape: torch.Size) -> bool:
    """The feature map is smaller than the kernel: where oneDNN's AVX2 build falls back."""
    return min(input_shape[-2:]) < max(kernel_size)


class CpuDepthwiseConv2d(torch.nn.Conv2d):
    """An nn.Conv2d (same parameters, same state_dict) whose training forward on a CPU takes
    `_SmallMapDepthwise` when the feature map is smaller than the kernel; otherwise it is
    nn.Conv2d exactly. Made by `use_fast_depthwise`, which swaps the class of existing
    modules so that the model's structure and weights stay as loaded."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None) -> torch.Tensor:
        if (self.training and torch.is_grad_enabled() and input.device.type == "cpu"
                and input.dim() == 4 and small_map(self.kernel_size, input.shape)):
            return _SmallMapDepthwise.apply(input, weight, self.padding)
        return super()._conv_forward(input, weight, bias)


def eligible(module: torch.nn.Module) -> bool:
    """A plain depthwise nn.Conv2d that `_SmallMapDepthwise` computes exactly."""
    return (type(module) is torch.nn.Conv2d
            and module.groups == module.in_channels == module.out_channels > 1
            and module.bias is None and module.padding_mode == "zeros"
            and module.stride == (1, 1) and module.dilation == (1, 1)
            and isinstance(module.padding, tuple) and max(module.kernel_size) > 1)


def slow_depthwise_backward(device: torch.device, capability: str | None = None) -> bool:
    """True where the GEMM fall-back was measured: CPUs whose best ISA is below AVX-512.
    AVX-512 machines ran the whole train step 3x faster (docs/PEER.md); whether they share
    the fall-back was not measured, so they keep oneDNN's own path."""
    if device.type != "cpu":
        return False
    capability = capability or torch.backends.cpu.get_cpu_capability()
    return "AVX512" not in capability.upper()


def use_fast_depthwise(model: torch.nn.Module, device: torch.device,
                       capability: str | None = None) -> int:
    """Swap eligible depthwise convolutions of `model` to CpuDepthwiseConv2d when training
    on a CPU that needs it; returns how many were swapped (0 elsewhere)."""
    if not slow_depthwise_backward(device, capability):
        return 0
    swapped = 0
    for module in model.modules():
        if eligible(module):
            module.__class__ = CpuDepthwiseConv2d
            swapped += 1
    return swapped
