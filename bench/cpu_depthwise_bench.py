"""Train-step time with and without engine/cpu_depthwise.py's weight gradient (issue 18).

On AVX2 CPUs oneDNN computes the weight gradient of a depthwise convolution whose feature map
is smaller than its kernel (Lite0's 5x5 convolutions on 3x3 maps at 96 px) with a generic
per-channel GEMM. This bench prints, in one process on this machine:
  layers   per such layer of EfficientNet-Lite0: ms for oneDNN's weight gradient vs the
           grouped-convolution one, and their largest relative difference
  step     ms per train step (Lite0 + a 10-class head, channels-last, AdamW, synthetic batch),
           plain vs swapped, interleaved over --rounds, median of each
  grads    the largest relative difference of any parameter's gradient after one step

    python bench/cpu_depthwise_bench.py                 # 96 px (the compare default), batch 32
    python bench/cpu_depthwise_bench.py --image-size 64
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch

from transferlab.backbones.bundled import create_bundled
from transferlab.engine.cpu_depthwise import (
    depthwise_weight_grad,
    eligible,
    slow_depthwise_backward,
    small_map,
    use_fast_depthwise,
)


def lite0_with_head(classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(0)
    net = create_bundled("efficientnet_lite0").net
    net.reset_classifier(classes)
    return net.to(memory_format=torch.channels_last)


def small_map_layers(net: torch.nn.Module, size: int) -> list[tuple[str, torch.nn.Conv2d,
                                                                     torch.Size]]:
    """(name, conv, input shape) of the eligible depthwise convs whose map < kernel at `size`."""
    shapes: dict[str, torch.Size] = {}
    hooks = [m.register_forward_pre_hook(lambda m, a, n=n: shapes.__setitem__(n, a[0].shape))
             for n, m in net.named_modules() if eligible(m)]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    mods = dict(net.named_modules())
    return [(n, mods[n], s) for n, s in shapes.items()
            if small_map(mods[n].kernel_size, s)]


def timed(fn, reps: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1000


def onednn_weight_grad(conv: torch.nn.Conv2d, x: torch.Tensor,
                       go: torch.Tensor) -> torch.Tensor:
    w = conv.weight
    return torch.ops.aten.convolution_backward(
        go, x, w, None, [1, 1], list(conv.padding), [1, 1], False, [0, 0], w.shape[0],
        [False, True, False])[1]


def layer_row(name: str, conv: torch.nn.Conv2d, shape: torch.Size, batch: int) -> str:
    x = torch.randn(batch, *shape[1:]).contiguous(memory_format=torch.channels_last)
    go = torch.randn_like(conv(x))
    ref = onednn_weight_grad(conv, x, go)
    got = depthwise_weight_grad(x, go, conv.padding)
    diff = float((got - ref).abs().max() / ref.abs().max())
    slow = timed(lambda: onednn_weight_grad(conv, x, go), 10)
    fast = timed(lambda: depthwise_weight_grad(x, go, conv.padding), 10)
    return (f"  {name:22} {str(tuple(shape[1:])):16} k{conv.kernel_size[0]}"
            f" {slow:9.2f} {fast:9.2f}   {diff:.0e}")


def step_fn(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.AdamW(net.parameters(), 1e-4)
    net.train()

    def one() -> None:
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return one


def grad_difference(plain: torch.nn.Module, fast: torch.nn.Module, x, y) -> float:
    worst = 0.0
    for net in (plain, fast):
        net.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net.train()(x), y).backward()
    for a, b in zip(plain.parameters(), fast.parameters()):
        scale = a.grad.abs().max().clamp_min(1e-12)
        worst = max(worst, float((a.grad - b.grad).abs().max() / scale))
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="steps per round and variant")
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args()
    cpu = torch.device("cpu")
    cap = torch.backends.cpu.get_cpu_capability()
    print(f"machine: {platform.machine()} {torch.get_num_threads()} torch threads, ATen CPU "
          f"capability {cap} (engine swaps here: {slow_depthwise_backward(cpu)}) | torch "
          f"{torch.__version__} | Lite0 {args.image_size} px, batch {args.batch_size}")
    plain = lite0_with_head()
    fast = copy.deepcopy(plain)
    swapped = use_fast_depthwise(fast, cpu, capability="AVX2")  # measured here either way
    print("depthwise weight gradient, maps smaller than the kernel (ms per batch):")
    print(f"  {'layer':22} {'input':16} {'k':2} {'oneDNN':>9} {'grouped':>9}   rel diff")
    with torch.no_grad():
        for name, conv, shape in small_map_layers(plain, args.image_size):
            print(layer_row(name, conv, shape, args.batch_size))
    torch.manual_seed(1)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,))
    diff = grad_difference(plain, fast, x, y)
    steps = {"plain": step_fn(plain, x, y), "swapped": step_fn(fast, x, y)}
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.rounds):
        for name, one in steps.items():
            times[name].append(timed(one, args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"train step: plain {med['plain']:.0f} ms, swapped ({swapped} depthwise convs) "
          f"{med['swapped']:.0f} ms -> {med['plain'] / med['swapped']:.2f}x "
          f"(median of {args.rounds} interleaved rounds of {args.steps} steps; rounds: "
          + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(times['plain'], times['swapped']))
          + ")")
    print(f"gradients after one step: largest relative difference {diff:.1e}")


if __name__ == "__main__":
    main()
