"""One strategy, end to end: data → backbone → model → phases → trainer → metrics → run folder."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from transferlab.backbones.weights import WeightsSpec
from transferlab.config import RunConfig, check_run_name
from transferlab.data import DataSplits, ImageSet, load_dataset, make_splits
from transferlab.data.health import check_splits
from transferlab.data.transforms import Preprocess
from transferlab.engine import distributed as dist
from transferlab.engine.balance import Balance, adjust_logits, resolve_balance
from transferlab.engine.calibrate import Calibrator, calibration_metrics
from transferlab.engine.checkpoint import prune_checkpoints
from transferlab.engine.device import resolve_device
from transferlab.engine.loop import metrics_from_logits, predict_logits
from transferlab.engine.recipe import auto_image_size, auto_recipe, small_input_warning
from transferlab.engine.strategies import Recipe, phases_for
from transferlab.engine.trainer import Trainer
from transferlab.errors import DataError
from transferlab.model import TransferModel, build_model
from transferlab.results.overlap import save_training_hashes
from transferlab.results.provenance import data_fingerprint, provenance_line, source_provenance
from transferlab.results.runfolder import MODEL, RunFolder
from transferlab.results.stats import metric_intervals

DECODE_SIZE = 224  # folder/CSV images are never stored larger (the bundled backbones' input)


@dataclass
class StrategyResult:
    strategy: str
    metrics: dict
    wall_seconds: float
    train_seconds: float
    run_dir: Path
    recipe: Recipe
    # test labels and predictions, kept for the paired comparisons of `compare`
    y_true: np.ndarray | None = field(default=None, repr=False)
    y_pred: np.ndarray | None = field(default=None, repr=False)
    seed: int | None = None  # the training seed (compare --seeds)

    def row(self) -> dict:
        m = self.metrics
        return {"strategy": self.strategy, "accuracy": m.get("accuracy"),
                "macro_f1": m.get("macro_f1"), "rmse": m.get("rmse"),
                "wall_seconds": round(self.wall_seconds, 2),
                "train_seconds": round(self.train_seconds, 2), "run_dir": str(self.run_dir)}


def new_run_dir(cfg: RunConfig, command: str) -> Path:
    """A fresh folder directly inside --out (the config already refused names that leave it)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = cfg.name or f"{command}-{stamp}"
    check_run_name(name)  # a RunConfig changed after it was built is checked here again
    base = Path(cfg.out) / name
    path, i = base, 1
    while path.exists() or path.is_symlink():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    path.mkdir(parents=True)
    return path


def decode_size_limit(device: torch.device) -> int:
    """The largest size the auto recipe trains a 224 px backbone at on `device`.

    Folder/CSV images are stored no larger than this (and no larger than the originals): on a
    CPU the recipe trains at 160 px at most, so storing 224 px would only cost memory.
    """
    spec = WeightsSpec("decode-limit", "runner", input_size=(3, DECODE_SIZE, DECODE_SIZE))
    return auto_image_size(spec, DECODE_SIZE, device)


def prepare_data(cfg: RunConfig, log=print) -> DataSplits:
    """Train/val/test splits; folder/CSV images stored at the size training will use.

    The stored size is --image-size (or the recipe's image_size) when given; otherwise the
    originals' median shorter side, at most `decode_size_limit`. The test data is stored at the
    training data's size so both are seen alike.

    Under torchrun rank 0 loads first, decoding into the shared decode cache, while the other
    ranks wait; they then load the same splits from the warm cache instead of every rank
    decoding the whole folder into one key at once. If rank 0 fails, torchrun stops the others.
    """
    if not dist.is_distributed():
        return _prepare_data(cfg, log)
    splits = _prepare_data(cfg, log) if dist.is_main() else None
    dist.broadcast_object(None)  # the barrier: rank 0's decode is complete and published
    return splits if splits is not None else _prepare_data(cfg, dist.main_only(log))


def _prepare_data(cfg: RunConfig, log=print) -> DataSplits:
    size = cfg.recipe_overrides().get("image_size")
    limit = decode_size_limit(resolve_device(cfg.device))
    outside = cfg.allow_outside_paths
    train = load_dataset(cfg.data, "train", size, cfg.on_bad_file, cfg.task, limit, outside)
    size = train.source_size if isinstance(train, ImageSet) else size
    test = (load_dataset(cfg.test_data, "train", size, cfg.on_bad_file, cfg.task, limit,
                         outside)
            if cfg.test_data
            else load_dataset(cfg.data, "test", size, cfg.on_bad_file, cfg.task, limit,
                              outside))
    if test is not None and not test.is_regression and test.classes != train.classes:
        raise DataError(f"test classes {test.classes} differ from training classes "
                        f"{train.classes}; both must have the same class names")
    splits = make_splits(train, test, cfg.per_class_budget, cfg.val_fraction, cfg.seed,
                         cfg.test_fraction)
    if cfg.max_test and len(splits.test) > cfg.max_test:
        g = torch.Generator().manual_seed(cfg.seed + 3)
        splits.test = splits.test.subset(torch.sort(
            torch.randperm(len(splits.test), generator=g)[:cfg.max_test]).values)
    skipped = len(train.skipped) + (len(test.skipped) if test is not None else 0)
    log(f"data: {len(splits.train)} train, {len(splits.val) if splits.val else 0} val, "
        f"{len(splits.test)} test images, {train.num_classes} classes"
        + (f"; {skipped} bad files skipped (listed in data.json)" if skipped else ""))
    if not splits.train.is_regression:
        log(f"train per class: {per_class_text(splits.train.class_counts())}")
    check_splits(splits, log)  # duplicates and train↔test leakage: data.json "health"
    return splits


def per_class_text(counts: dict[str, int], most: int = 20) -> str:
    """`a 40, b 38, c 12`: what each class really trains on (the budget may exceed a class)."""
    items = [f"{c} {n}" for c, n in counts.items()]
    more = f", ... ({len(items) - most} more classes in data.json)" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def environment() -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "threads": torch.get_num_threads(), "processes": dist.world_size()}


def log_start(strategy: str, model: TransferModel, recipe: Recipe, phases: int,
              source: dict | None, log) -> None:
    """The run's opening lines: where a run-folder backbone came from, what trains at which
    input size, and the small-input warning."""
    if source is not None:  # the backbone is a transferlab run: the chain is recorded
        log(f"[{strategy}] {provenance_line(source)}")
    init = "pretrained" if model.spec.pretrained else "random init"
    # a text run's input size is the token cap prepare_for chose, not the recipe's image size
    size = (f"{model.info.extra.get('max_length')} tokens" if model.spec.modality == "text"
            else f"{recipe.image_size}px")
    log(f"[{strategy}] {model.spec.architecture} ({init}) at {size}, "
        f"{phases} phase(s), batch {recipe.batch_size}")
    if (small := small_input_warning(recipe, model.spec)) is not None:
        log(small)


def run_strategy(cfg: RunConfig, strategy: str, splits: DataSplits, run_dir: Path,
                 log=print, resume: bool = False, train_seed: int | None = None
                 ) -> StrategyResult:
    """`train_seed` (compare --seeds) replaces cfg.seed for initialisation and training
    only; the data split in `splits` was drawn with cfg.seed and stays the same."""
    seed = cfg.seed if train_seed is None else train_seed
    t0 = time.perf_counter()
    log = dist.main_only(log)  # under torchrun: rank 0 logs and writes the run folder
    if dist.is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            RunFolder(run_dir).start_history()
    device = dist.local_device(resolve_device(cfg.device))
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)  # head (and scratch backbone) initialisation
    model = build_model(cfg.backbone, splits.train.classes, pretrained=strategy != "scratch",
                        head=cfg.head, task=cfg.task, in_chans=cfg.in_chans,
                        adapt=cfg.adapt_input, arch=cfg.arch)
    splits.prepare_for(model)  # text data: tokenise with this model's tokenizer
    recipe = auto_recipe(len(splits.train), model.spec, splits.train.source_size, device,
                         cfg.recipe_overrides())
    model.info.image_size = recipe.image_size
    if isinstance(splits.train, ImageSet):  # predict/serving decode new images at this size
        model.info.extra["decode_size"] = splits.train.source_size
    phases = phases_for(strategy, recipe, len(model.stage_groups()))
    source = source_provenance(cfg.backbone) if strategy != "scratch" else None
    log_start(strategy, model, recipe, len(phases), source, log)
    balance = resolve_balance(cfg.balance, splits.train.labels, splits.train.classes)
    if not splits.train.is_regression:
        log(balance.line())
    calibrator = Calibrator(model, splits, recipe, phases, device, seed, log,
                            balance=balance, mode=cfg.calibration)
    # holdout calibration keeps part of the validation split from the Trainer
    trainer = Trainer(model, calibrator.train_splits, recipe, phases, device, seed,
                      run_dir / "checkpoint",
                      log=log, history_path=RunFolder(run_dir).history_path, balance=balance,
                      compile_mode=cfg.compile)
    progress = trainer.run(resume=resume)
    fitted = calibrator.fit(model, trainer.pre)  # sets the model's temperature (T)
    # after T: the prior is subtracted from calibrated logits
    if adjust_logits(model, balance, last_phase=phases[-1].kind):
        log("balance: training class prior subtracted from the logits (logit adjustment)")
    logits = predict_logits(model, splits.test, trainer.pre, device, desc=f"test {strategy}",
                            sharded=True)
    metrics, (y_true, y_pred) = test_metrics(logits, splits.test, fitted, log)
    wall = time.perf_counter() - t0
    if dist.is_main():
        save_run(run_dir, model, cfg, strategy, recipe, phases, metrics, progress.history, wall,
                 trainer.param_layout, splits, None if train_seed is None else seed, balance,
                 source, trainer.trainable)
        save_predictions(run_dir, logits, splits.test)
        if not cfg.keep_checkpoints:  # finished and saved: the final model is what remains
            prune_checkpoints(run_dir / "checkpoint")
    return StrategyResult(strategy, metrics, wall, progress.train_seconds, run_dir, recipe,
                          y_true, y_pred, seed)


def test_metrics(logits: torch.Tensor, test: ImageSet, fitted: dict, log=print
                 ) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """The final test metrics: point values, calibration before/after T, and 95% bootstrap
    intervals (computed here only, never for the per-epoch validation metrics); plus the
    (y_true, y_pred) vectors the paired tests of `compare` use."""
    metrics = metrics_from_logits(logits, test)
    metrics.update(calibration_metrics(logits, test, fitted, log))
    y_true, y_pred = prediction_vectors(logits, test)
    metrics["ci95"] = metric_intervals(
        y_true, y_pred, None if test.is_regression else len(test.classes))
    return metrics, (y_true, y_pred)


def prediction_vectors(logits: torch.Tensor, test: ImageSet) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and predictions (class index, or value for regression) as numpy."""
    pred = logits.squeeze(-1) if test.is_regression else logits.argmax(-1)
    return test.labels.numpy(), pred.numpy()


WRONG_GRID = 16


def save_predictions(run_dir: Path, logits: torch.Tensor, test: ImageSet) -> None:
    """Test-set predictions plus the most confidently wrong images, for reports and analysis."""
    arrays = {"y_true": test.labels.numpy()}
    if test.is_regression:
        arrays["y_pred"] = logits.squeeze(-1).numpy()
    else:
        probs = logits.softmax(-1)
        conf, pred = probs.max(-1)
        arrays.update(y_pred=pred.numpy(), confidence=conf.numpy())
        wrong = torch.nonzero(pred != test.labels).flatten()
        worst = wrong[conf[wrong].argsort(descending=True)[:WRONG_GRID]]
        arrays.update(wrong_index=worst.numpy())
        if hasattr(test, "images"):  # text sets have no pictures to show
            arrays["wrong_images"] = test.images[worst.to(test.images.device)].cpu().numpy()
    RunFolder(run_dir).write_predictions(arrays)


def save_run(run_dir: Path, model: TransferModel, cfg: RunConfig, strategy: str, recipe: Recipe,
             phases: list, metrics: dict, history: list, wall: float, layout: list,
             splits: DataSplits, train_seed: int | None = None,
             balance: Balance | None = None, source: dict | None = None,
             trainable: dict | None = None) -> None:
    """`source`: the provenance of a run-folder backbone (config.yaml `source_run`).
    `trainable`: the last train phase's parameter counts (Trainer.trainable), with the LoRA
    setup (rank, alpha, targets, adapted layers) of a lora run."""
    folder = RunFolder(run_dir)
    sections: dict = {} if train_seed is None else {
        "seeds": {"split": cfg.seed, "training": train_seed}}
    if source is not None:
        sections["source_run"] = source
    if trainable:  # a probe-only run has no train phase and no counts
        sections["trainable_params"] = trainable | (
            {"lora": model.info.extra["lora"]} if "lora" in model.info.extra else {})
    model.save(folder.file(MODEL))
    folder.write_config(
        {**cfg.to_dict(), "strategy": strategy}, recipe=recipe.to_dict(),
        balance=balance.to_dict() if balance is not None else None,
        phases=[p.to_dict() for p in phases], param_groups=layout,
        preprocess=Preprocess.from_spec(model.spec, recipe.image_size).__dict__,
        weights=model.spec.to_dict() | {"labels": f"{len(model.spec.labels)} labels"}, **sections)
    folder.write_metrics(strategy, metrics, wall, environment())
    folder.write_history(history)
    folder.write_data(splits.summary() | {"fingerprint": data_fingerprint(splits)})
    save_training_hashes(run_dir, splits)  # lets `evaluate` warn about train/test overlap
