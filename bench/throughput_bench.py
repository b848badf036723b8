"""Training and feature-extraction throughput against the model's own limit (issue 4).

Prints, from one run on one device, img/s for:
  (a) limit:       synthetic tensors already on the device (train step, same settings)
  (b) transferlab: the `finetune` path (uint8 ImageSet → batch transforms → train step)
  (c) plain:       PIL + torchvision transforms + DataLoader (2 workers, fp32, batch 100)
and feature extraction img/s (transferlab.engine.features) against the inference limit.

    python bench/throughput_bench.py                      # GPU: 224 px, batch 256
    python bench/throughput_bench.py --image-size 64 --batch-size 32 --steps 10   # CPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from transferlab.data import load_dataset
from transferlab.data.transforms import Preprocess
from transferlab.engine.device import autocast, maybe_compile, resolve_device
from transferlab.engine.features import compute_features
from transferlab.engine.freezing import FreezeState, freeze_stages, set_train_mode
from transferlab.engine.loop import StepContext, train_one_epoch, train_step
from transferlab.engine.param_groups import build_param_groups
from transferlab.engine.strategies import Phase, Recipe
from transferlab.model import build_model

FINETUNE = Phase("finetune", "train", 1)  # augmented, as the finetune strategy trains
FROZEN_BN = FreezeState(0, "frozen")


def _recipe(args) -> Recipe:
    """The step settings measured: label smoothing 0.1, clipping 1.0, shift 2, flips."""
    return Recipe(args.image_size, 1, args.batch_size, 1e-3)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _model(device: torch.device, compile_: bool):
    model = build_model("efficientnet_lite0", [str(i) for i in range(10)])
    model = model.to(device).to(memory_format=torch.channels_last)
    freeze_stages(model, 0, "frozen")
    opt = torch.optim.AdamW(build_param_groups(model, 1e-3, 0.1, 0.05))
    if compile_:  # as `fit` compiles: a compiler failure warns and runs eagerly
        model = maybe_compile(model, device, "on")
    return model, opt


def limit_train(args, device) -> float:
    model, opt = _model(device, args.compile)
    set_train_mode(model, FROZEN_BN)
    recipe = _recipe(args)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    for _ in range(args.warmup):
        train_step(model, x, y, opt, device, recipe)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        train_step(model, x, y, opt, device, recipe)
    _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - t0)


def transferlab_train(args, device, data) -> float:
    model, opt = _model(device, args.compile)
    pre = Preprocess.from_spec(build_model("efficientnet_lite0", ["a"]).spec, args.image_size)
    n = args.batch_size * (args.steps + args.warmup)
    subset = data.subset(torch.arange(n) % len(data))
    subset.images = subset.images.to(device)  # device-resident data
    warm = subset.subset(torch.arange(args.batch_size * args.warmup))
    run = subset.subset(torch.arange(args.batch_size * args.steps))
    for part in (warm, run):
        set_train_mode(model, FROZEN_BN)
        _sync(device)
        t0 = time.perf_counter()
        train_one_epoch(model, part, pre, opt, lambda s: 1.0, StepContext(0, 0, 0, 0),
                        FINETUNE, _recipe(args), device)
        _sync(device)
    return len(run) / (time.perf_counter() - t0)


def plain_pipeline(args, device, data) -> float:
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms as T

    tf = T.Compose([T.Resize(args.image_size), T.Grayscale(3), T.RandomCrop(args.image_size,
                    padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    arrays = data.images[:, 0].numpy()
    labels = data.labels.numpy()

    class Plain(Dataset):
        def __len__(self):
            return len(arrays)

        def __getitem__(self, i):
            return tf(Image.fromarray(arrays[i])), int(labels[i])

    model = build_model("efficientnet_lite0", [str(i) for i in range(10)]).to(device)
    freeze_stages(model, 0, "frozen")
    opt = torch.optim.AdamW(build_param_groups(model, 1e-3, 0.1, 0.05))
    loader = DataLoader(Plain(), batch_size=100, shuffle=True, num_workers=2)
    set_train_mode(model, FROZEN_BN)
    seen, t0 = 0, None
    for step, (x, y) in enumerate(loader):
        if step == args.warmup:
            _sync(device)
            t0, seen = time.perf_counter(), 0
        loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(y)
        if step >= args.warmup + args.steps:
            break
    _sync(device)
    return seen / (time.perf_counter() - t0)


@torch.inference_mode()
def limit_infer(args, device) -> float:
    model, _ = _model(device, False)
    model.eval()
    x = torch.randn(args.infer_batch, 3, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    for _ in range(args.warmup):
        with autocast(device):
            model.backbone(x)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        with autocast(device):
            model.backbone(x)
    _sync(device)
    return args.steps * args.infer_batch / (time.perf_counter() - t0)


def transferlab_features(args, device, data) -> float:
    model, _ = _model(device, False)
    pre = Preprocess.from_spec(model.spec, args.image_size)
    n = args.infer_batch * args.steps
    subset = data.subset(torch.arange(n) % len(data))
    subset.images = subset.images.to(device)
    compute_features(model.backbone, subset.subset(torch.arange(args.infer_batch)), pre,
                     device, args.infer_batch)
    _sync(device)
    t0 = time.perf_counter()
    compute_features(model.backbone, subset, pre, device, args.infer_batch)
    _sync(device)
    return n / (time.perf_counter() - t0)


def measure(args, device: torch.device, data, plain: bool = False) -> dict:
    """img/s of (a) the train limit, (b) the finetune path, (c) the plain pipeline when
    `plain`, and the inference limit vs feature extraction; `args` as `main` parses them.
    (bench/gpu_check.py calls the four functions one by one, saving after each.)"""
    out = {"train_limit": limit_train(args, device),
           "train_path": transferlab_train(args, device, data)}
    if plain:
        out["plain"] = plain_pipeline(args, device, data)
    out["infer_limit"] = limit_infer(args, device)
    out["features"] = transferlab_features(args, device, data)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist or an IDX folder")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--infer-batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--compile", action="store_true", help="torch.compile the model in (a), (b)")
    p.add_argument("--skip-plain", action="store_true")
    args = p.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    np.random.seed(0)
    data = load_dataset(args.data, "train")
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"device {name}, EfficientNet-Lite0 @{args.image_size}px, batch {args.batch_size}, "
          f"compile={args.compile}, torch {torch.__version__}")
    r = measure(args, device, data, plain=not args.skip_plain)
    lim, ours = r["train_limit"], r["train_path"]
    print(f"(a) limit, synthetic on device   {lim:10.1f} img/s")
    print(f"(b) transferlab finetune path    {ours:10.1f} img/s   {ours / lim:.3f} x limit")
    if "plain" in r:
        print(f"(c) plain DataLoader pipeline    {r['plain']:10.1f} img/s   "
              f"{r['plain'] / lim:.3f} x limit")
    ilim, feats = r["infer_limit"], r["features"]
    print(f"inference limit, synthetic       {ilim:10.1f} img/s")
    print(f"transferlab feature extraction   {feats:10.1f} img/s   {feats / ilim:.3f} x limit")


if __name__ == "__main__":
    main()
