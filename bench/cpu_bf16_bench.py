"""bf16 autocast on a CPU that has it (AVX512_BF16 / AMX), against fp32: is it a lever? (issue 18)

`engine/device.py` keeps CPU runs in fp32. This bench measures, on this machine and in one
process, what bf16 autocast would change for the two things a compare spends its CPU seconds on:
  train step   ms per step of the bundled EfficientNet-Lite0 + a linear head, channels-last,
               AdamW, synthetic batch (the engine's layout)
  inference    img/s on real Fashion-MNIST test images (ImageNet head: 1000 logits each)
and how far bf16 moves the logits (max |difference| and top-1 agreement with fp32), since a
faster evaluation that changes predictions would also break the eager/export parity.

    python bench/cpu_bf16_bench.py                   # 96 px (the compare default), batch 32
    python bench/cpu_bf16_bench.py --image-size 64 --images 512
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from transferlab.backbones.bundled import create_bundled
from transferlab.data import load_dataset
from transferlab.data.transforms import Preprocess
from transferlab.engine.device import to_channels_last


def cpu_flags() -> str:
    """The bf16-related flags the kernel reports (Linux), or '?' elsewhere."""
    try:
        flags = next(ln for ln in open("/proc/cpuinfo") if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        return "?"
    wanted = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return ",".join(wanted) or "no avx512"


def autocast_ctx(bf16: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def step_ms(net: torch.nn.Module, bf16: bool, batch: int, size: int, steps: int) -> float:
    opt = torch.optim.AdamW(net.parameters(), 1e-4)
    x = to_channels_last(torch.randn(batch, 3, size, size))
    y = torch.randint(0, 1000, (batch,))
    net.train()

    def one() -> None:
        with autocast_ctx(bf16):
            loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - t0) / steps * 1000


@torch.no_grad()
def logits_and_rate(net: torch.nn.Module, images: torch.Tensor, bf16: bool,
                    batch: int = 256) -> tuple[torch.Tensor, float]:
    net.eval()
    net(images[:batch])  # warm-up
    t0 = time.perf_counter()
    out = []
    for i in range(0, len(images), batch):
        with autocast_ctx(bf16):
            out.append(net(images[i:i + batch]).float())
    return torch.cat(out), len(images) / (time.perf_counter() - t0)


def test_images(n: int, size: int, spec) -> torch.Tensor:
    """n Fashion-MNIST test images as the engine feeds them to a model of `spec`
    (`ImageSet.batch`: resize, grey to 3 channels, normalise), channels-last."""
    test = load_dataset("fashion-mnist", "test")
    pre = Preprocess.from_spec(spec, size)
    index = torch.arange(min(n, len(test)))
    return to_channels_last(test.batch(index, pre, torch.device("cpu")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32, help="training batch")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--images", type=int, default=2048, help="test images for inference")
    args = p.parse_args()
    torch.manual_seed(0)
    backbone = create_bundled("efficientnet_lite0")
    spec = backbone.spec
    backbone.forward = backbone.forward_source  # the ImageNet head: real logits to compare
    net = backbone.to(memory_format=torch.channels_last)
    print(f"machine: {platform.machine()} {torch.get_num_threads()} torch threads, "
          f"cpu flags {cpu_flags()} | torch {torch.__version__} | Lite0 {args.image_size} px")
    images = test_images(args.images, args.image_size, spec)
    ref, fp32_rate = logits_and_rate(net, images, bf16=False)
    low, bf16_rate = logits_and_rate(net, images, bf16=True)
    agree = float((ref.argmax(-1) == low.argmax(-1)).float().mean())
    diff = float((ref - low).abs().max())
    state = {k: v.clone() for k, v in net.state_dict().items()}
    fp32_ms = step_ms(net, False, args.batch_size, args.image_size, args.steps)
    net.load_state_dict(state)
    bf16_ms = step_ms(net, True, args.batch_size, args.image_size, args.steps)
    print(f"{'':12} {'fp32':>10} {'bf16':>10} {'bf16 speed-up':>14}")
    print(f"{'train step':12} {fp32_ms:>7.0f} ms {bf16_ms:>7.0f} ms {fp32_ms / bf16_ms:>13.2f}x"
          f"   (batch {args.batch_size}, {args.steps} steps)")
    print(f"{'inference':12} {fp32_rate:>5.0f} img/s {bf16_rate:>5.0f} img/s "
          f"{bf16_rate / fp32_rate:>8.2f}x   ({len(images)} test images, batch 256)")
    print(f"bf16 vs fp32 logits: max |diff| {diff:.3f}, top-1 agreement {agree:.4f} "
          f"(ImageNet head)")


if __name__ == "__main__":
    main()
