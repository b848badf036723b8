"""engine/cpu_depthwise.py: the grouped-convolution weight gradient equals oneDNN's, and the
swap touches only what it can compute exactly, only where it was measured to pay."""

from __future__ import annotations

import copy

import pytest
import torch

from transferlab.engine import cpu_depthwise as cd
from transferlab.engine.cpu_depthwise import CpuDepthwiseConv2d, use_fast_depthwise

CPU = torch.device("cpu")


def _pair(channels: int, kernel, padding) -> tuple[torch.nn.Conv2d, torch.nn.Conv2d]:
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(channels, channels, kernel, 1, padding, groups=channels, bias=False)
    fast = copy.deepcopy(plain)
    assert use_fast_depthwise(fast, CPU, capability="AVX2") == 1
    return plain, fast


def _grads(conv: torch.nn.Module, x: torch.Tensor, channels_last: bool):
    x = x.clone()
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    conv.weight.grad = None
    out = conv(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out.detach(), x.grad, conv.weight.grad


@pytest.mark.parametrize("shape,kernel,padding", [
    ((4, 8, 3, 3), 5, 2),       # Lite0's last stage at 96 px
    ((4, 8, 2, 2), 5, 2),       # ... at 64 px
    ((4, 8, 1, 1), 3, 1),
    ((3, 6, 2, 4), 5, 2),       # a non-square map, one side as large as the kernel
    ((2, 5, 3, 3), (5, 3), (2, 1)),  # a non-square kernel
    ((2, 4, 3, 3), 5, 1),       # padding smaller than k // 2: the output shrinks
])
@pytest.mark.parametrize("channels_last", [True, False])
def test_gradients_equal_onednns(shape, kernel, padding, channels_last, monkeypatch):
    plain, fast = _pair(shape[1], kernel, padding)
    x = torch.randn(shape)
    calls = []
    real = cd._SmallMapDepthwise.apply
    monkeypatch.setattr(cd._SmallMapDepthwise, "apply", lambda *a: calls.append(1) or real(*a))
    got = _grads(fast, x, channels_last)
    monkeypatch.undo()
    want = _grads(plain, x, channels_last)
    assert calls, "the small-map path was not taken"
    for g, w in zip(got, want):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


def test_frozen_weight_gets_no_gradient_and_the_input_still_does():
    plain, fast = _pair(6, 5, 2)
    fast.weight.requires_grad_(False)
    plain.weight.requires_grad_(False)
    x = torch.randn(2, 6, 3, 3)
    got, want = _grads(fast, x, True), _grads(plain, x, True)
    assert got[2] is None and want[2] is None
    torch.testing.assert_close(got[1], want[1])


def test_only_training_with_grad_on_small_maps_takes_the_new_path(monkeypatch):
    _, fast = _pair(4, 5, 2)
    calls = []
    monkeypatch.setattr(cd._SmallMapDepthwise, "apply",
                        lambda *a: calls.append(1) or torch.zeros(1))
    fast(torch.randn(1, 4, 5, 5))         # map as large as the kernel: oneDNN's own kernel
    fast.eval()
    fast(torch.randn(1, 4, 3, 3))         # evaluation and exports
    fast.train()
    with torch.no_grad():
        fast(torch.randn(1, 4, 3, 3))     # no-gradient passes
    assert calls == []
    fast(torch.randn(1, 4, 3, 3))
    assert calls == [1]


def _mixed() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(4, 4, 5, 1, 2, groups=4, bias=False),  # swapped
        torch.nn.Conv2d(4, 4, 3, 2, 1, groups=4, bias=False),  # strided: kept
        torch.nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=True),   # bias: kept
        torch.nn.Conv2d(4, 8, 1, bias=False),                  # dense: kept
        torch.nn.Conv2d(8, 8, 3, 1, 1, groups=2, bias=False),  # grouped, not depthwise: kept
    )


def test_swap_is_exact_about_what_it_takes_and_keeps_the_weights():
    net = _mixed()
    plain = copy.deepcopy(net).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert use_fast_depthwise(net, CPU, capability="AVX2") == 1
    assert [type(m) is CpuDepthwiseConv2d for m in net] == [True, False, False, False, False]
    after = net.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)
    twin = copy.deepcopy(net)
    assert type(twin[0]) is CpuDepthwiseConv2d
    x = torch.randn(2, 4, 3, 3)
    net.eval()
    traced = torch.jit.trace(net, x, check_trace=False)  # exports trace in eval mode
    torch.testing.assert_close(traced(x), plain(x))


@pytest.mark.parametrize("device,capability", [
    ("cpu", "AVX512"), ("cpu", "AVX512_BF16"), ("cuda", "AVX2"), ("meta", "AVX2"),
])
def test_no_swap_where_the_fall_back_was_not_measured(device, capability):
    net = _mixed()
    assert use_fast_depthwise(net, torch.device(device), capability=capability) == 0
    assert all(type(m) is not CpuDepthwiseConv2d for m in net)


def test_lite0_train_step_gradients_match_the_plain_network():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    plain = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=3)
    fast = copy.deepcopy(plain)
    swapped = use_fast_depthwise(fast, CPU, capability="AVX2")
    assert swapped >= 10  # the stride-1 depthwise convolutions of every stage
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    for net in (plain, fast):
        net.to(memory_format=torch.channels_last).train()
        net(x).logsumexp(-1).sum().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), fast.named_parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5, msg=name)
