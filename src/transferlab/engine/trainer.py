"""The Trainer runs a list of phases on one model, with checkpoints, resume and best selection.

It knows phases, not strategies: a probe phase fits the head in closed form on cached features;
a train phase freezes what the phase says (a `FreezeState` the trainer keeps and checkpoints),
builds its optimizer and schedule (`engine.optim`) and runs epochs.
Tests reach inside a run through `step_hooks` (called after every step), never through
environment variables read here.
Under torchrun every rank runs the same Trainer; `engine.distributed` shards batches and
evaluation, and only rank 0 logs and writes history and checkpoints.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from transferlab.data import DataSplits, ImageSet
from transferlab.data.transforms import Preprocess
from transferlab.engine import distributed as dist
from transferlab.engine.balance import NO_BALANCE, Balance
from transferlab.engine.checkpoint import load_checkpoint, save_checkpoint
from transferlab.engine.cpu_depthwise import use_fast_depthwise
from transferlab.engine.device import CompiledOrEager, maybe_compile
from transferlab.engine.features import (
    HEAD_MIN_PASSES,
    HEAD_MIN_STEPS,
    CachedFeatures,
    extract_features,
)
from transferlab.engine.freezing import FreezeState, freeze_stages, set_train_mode
from transferlab.engine.loop import StepContext, epoch_batches, evaluate, train_one_epoch
from transferlab.engine.lora import add_adapters, merge_adapters
from transferlab.engine.optim import build_optimizer, phase_schedule
from transferlab.engine.param_groups import describe
from transferlab.engine.probe import fit_linear_probe
from transferlab.engine.strategies import Phase, Recipe
from transferlab.errors import CheckpointError, Interrupted, TrainingError
from transferlab.model import TransferModel, load_strict
from transferlab.model.heads import set_linear
from transferlab.results.metrics import primary_metric, rank_score
from transferlab.results.runfolder import append_history, write_history


@dataclass
class Progress:
    phase: int = 0
    epoch: int = 0
    batch: int = 0  # next batch of `epoch` to run
    global_step: int = 0
    history: list = field(default_factory=list)
    best_metric: float | None = None
    bad_epochs: int = 0
    train_seconds: float = 0.0
    freeze: dict | None = None  # FreezeState of the current phase; None before its first step

    def to_dict(self) -> dict:
        return dict(self.__dict__)


StepHook = Callable[[StepContext], None]


class Trainer:
    def __init__(self, model: TransferModel, splits: DataSplits, recipe: Recipe,
                 phases: list[Phase], device: torch.device, seed: int,
                 checkpoint_dir: Path | None = None, log=print,
                 history_path: Path | None = None, compile_mode: str = "auto",
                 step_hooks: Sequence[StepHook] = (), balance: Balance | None = None) -> None:
        """`step_hooks` run after every optimizer step, before the interrupt check, with the
        step's context (its `global_step` already counts the step): tests inject faults there.
        `balance` is the resolved `--balance` (`engine.balance.resolve_balance`).
        A LoRA phase gets its adapters here, before any checkpoint is restored, and `run`
        merges them into the base weights at its end (engine/lora.py)."""
        self.lora = (add_adapters(model, recipe.lora_rank, recipe.lora_alpha,
                                  recipe.lora_targets)
                     if any(p.lora for p in phases) else None)
        self.model = model.to(device).to(memory_format=torch.channels_last)
        use_fast_depthwise(self.model, device)  # AVX2 CPUs: see engine/cpu_depthwise.py
        self.splits = splits
        self.recipe = recipe
        self.phases = phases
        self.device = device
        self.seed = seed
        self.ckpt_dir = checkpoint_dir
        self.log = dist.main_only(log)
        self.history_path = history_path  # metrics JSONL, appended live after every epoch
        self.compile_mode = compile_mode
        placed = [part.place(device) for part in (splits.train, splits.val, splits.test)
                  if part is not None and hasattr(part, "place")]
        if placed:
            self.log(f"training data: {placed[0]}")
        self.pre = Preprocess.from_spec(model.spec, recipe.image_size)
        self.progress = Progress()
        self.best_state: dict[str, torch.Tensor] | None = None
        self._stop = False
        self._clock = time.perf_counter()
        self.step_hooks: list[StepHook] = list(step_hooks)
        self.balance = balance or NO_BALANCE
        self.freeze = FreezeState()
        self._opt_state: dict | None = None
        self.param_layout: list[dict] = []
        self.trainable: dict = {}  # parameter counts of the last train phase (config.yaml)

    # -- public ---------------------------------------------------------------------------
    def run(self, resume: bool = False) -> Progress:
        if resume:
            self._restore()
        handlers = self._install_signal_handlers()
        try:
            while self.progress.phase < len(self.phases):
                self._run_phase(self.phases[self.progress.phase])
                self.progress.phase += 1
                self.progress.epoch = self.progress.batch = 0
                self.progress.bad_epochs = 0
                self.progress.freeze = None  # the next phase freezes its own way
                self._opt_state = None
                self._checkpoint(None)
        finally:
            for sig, h in handlers.items():
                signal.signal(sig, h)
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        if self.lora is not None:  # W += alpha/r B@A: a plain model leaves the trainer
            merge_adapters(self.model)
        return self.progress

    # -- phases ---------------------------------------------------------------------------
    def _run_phase(self, phase: Phase) -> None:
        self._clock = time.perf_counter()
        if phase.kind == "probe":
            self._probe(phase)
        else:
            self._train(phase)
        self._tick()

    def _tick(self) -> None:
        """Add the time since the last tick to the run's training seconds (saved on resume)."""
        now = time.perf_counter()
        self.progress.train_seconds += now - self._clock
        self._clock = now

    def _freeze(self, phase: Phase, frozen: int | str, bn: str):
        """Freeze for `phase`; on resume, the checkpoint must have frozen the same way."""
        report = freeze_stages(self.model, frozen, bn, adapters=phase.lora)
        saved = self.progress.freeze
        if saved is not None and FreezeState.from_dict(saved) != report.state:
            raise CheckpointError(f"phase {phase.name}: the checkpoint froze {saved}, this run "
                                  f"freezes {report.state.to_dict()}; resume with the same "
                                  "backbone and settings")
        self.freeze = report.state
        self.progress.freeze = self.freeze.to_dict()
        return report

    def _probe(self, phase: Phase) -> None:
        self._freeze(phase, "all", "frozen")
        s = self.splits
        tx = extract_features(self.model.backbone, s.train, self.pre, self.device)
        vx = extract_features(self.model.backbone, s.val, self.pre, self.device) if s.val else None
        w, b, info = fit_linear_probe(tx, s.train.labels, s.train.num_classes, vx,
                                      s.val.labels if s.val else None, self.seed,
                                      class_weight=self.balance.probe_weights)
        set_linear(self.model.head, w, b)
        # Every rank fits the same probe; rank 0's head is kept so ranks agree to the last bit.
        dist.broadcast_(list(self.model.head.parameters()) + list(self.model.head.buffers()))
        self._end_epoch(phase, train_loss=None, extra={"probe": info})

    def _train(self, phase: Phase) -> None:
        report = self._freeze(phase, phase.frozen, phase.bn)
        if report.trainable_params == 0:
            raise TrainingError(f"phase {phase.name}: nothing is trainable")
        dist.check_global_batch(self.recipe.batch_size)
        self.log(f"[{phase.name}] trainable stages: {', '.join(report.trainable_stages) or '-'}"
                 f" + head{' + LoRA adapters' if phase.lora else ''}; frozen: "
                 f"{', '.join(report.frozen_stages) or '-'}; BN {report.bn}; {report.line()}")
        self.trainable = report.counts()
        optimizer = build_optimizer(self.model, phase, self.recipe)
        self.param_layout = describe(optimizer.param_groups)
        if self._opt_state is not None:
            optimizer.load_state_dict(self._opt_state)
        data, net, val = self._phase_inputs(phase)
        per_epoch = len(epoch_batches(len(data), self.recipe.batch_size, 0))
        phase_start = self.progress.global_step - (self.progress.epoch * per_epoch
                                                   + self.progress.batch)
        lr_at = phase_schedule(phase, self.recipe, per_epoch, start=phase_start)
        while self.progress.epoch < phase.epochs:
            set_train_mode(self.model, self.freeze)
            ctx = StepContext(self.seed, self.progress.phase, self.progress.epoch,
                              self.progress.global_step)
            loss = train_one_epoch(
                net, data, self.pre, optimizer, lr_at, ctx, phase, self.recipe,
                self.device, start_batch=self.progress.batch,
                on_step=lambda b, _loss, c=ctx: self._after_step(b, c, optimizer),
                balance=self.balance)
            self.progress.global_step = ctx.global_step
            dist.sync_buffers(self.model)
            self.progress.epoch += 1
            self.progress.batch = 0
            stop = self._end_epoch(phase, loss, val=val)
            self._checkpoint(optimizer)
            if stop:
                self.log(f"[{phase.name}] early stop: no validation gain for "
                         f"{self.recipe.patience} epochs")
                break
        if isinstance(net, CompiledOrEager) and net.failure:
            self.compile_mode = "off"  # a compiler that failed once: later phases skip it

    def _phase_inputs(self, phase: Phase) -> tuple:
        """(training data, network that takes it, validation inputs) for a train phase.

        Usually the split and the whole model (under DDP and maybe compiled). When the whole
        backbone is frozen, with BN frozen, and nothing changes its inputs (text, or images with
        no shift/flip), every epoch would feed the backbone the same rows to get the same
        features: they are computed once (and cached on disk, as the probe's are) and only the
        head runs, for at least HEAD_MIN_STEPS steps and HEAD_MIN_PASSES passes over the rows.
        The backbone is then in eval mode, so its dropout is off, as when the probe's features
        are taken. Validation then scores the head on the validation split's cached features;
        otherwise (None) the whole model on the split.
        """
        train = self.splits.train
        augments = isinstance(train, ImageSet) and (self.recipe.shift > 0 or self.recipe.flip)
        if (phase.frozen != "all" or phase.lora or phase.bn != "frozen"
                or (phase.augment and augments)):
            net = dist.wrap_ddp(self.model, self.device)  # the model itself in one process
            return train, maybe_compile(net, self.device, self.compile_mode), None
        feats = extract_features(self.model.backbone, train, self.pre, self.device)
        per_pass = len(epoch_batches(len(train), self.recipe.batch_size, 0))
        epochs = max(1, phase.epochs)
        passes = max(math.ceil(HEAD_MIN_STEPS / (max(1, per_pass) * epochs)),
                     math.ceil(HEAD_MIN_PASSES / epochs))
        data = CachedFeatures(feats, train, passes)
        val = None
        if self.splits.val is not None:
            val_feats = extract_features(self.model.backbone, self.splits.val, self.pre,
                                         self.device)
            val = (self.model.head, CachedFeatures(val_feats, self.splits.val))
        self.log(f"[{phase.name}] backbone frozen and inputs unchanged: the head trains on "
                 f"features computed once, {passes} pass(es) over them per epoch "
                 f"({len(epoch_batches(len(data), self.recipe.batch_size, 0)) * phase.epochs} "
                 "steps)")
        return data, dist.wrap_ddp(self.model.head, self.device), val

    def _after_step(self, batch: int, ctx: StepContext, optimizer) -> None:
        for hook in self.step_hooks:
            hook(ctx)
        if dist.any_rank(self._stop):  # a signal may reach ranks at different steps
            self.progress.batch = batch
            self.progress.global_step = ctx.global_step
            self._checkpoint(optimizer)
            if self.ckpt_dir is None:  # e.g. calibration's cross-fitting models
                raise Interrupted(f"interrupted at step {ctx.global_step} (no checkpoint)")
            raise Interrupted(
                f"interrupted at step {ctx.global_step}; checkpoint saved in {self.ckpt_dir}. "
                f"Continue with: transferlab fit --resume {self.ckpt_dir.parent}")

    # -- bookkeeping ----------------------------------------------------------------------
    def _end_epoch(self, phase: Phase, train_loss: float | None, extra: dict | None = None,
                   val: tuple | None = None) -> bool:
        """History row, validation (`val`: (network, data) in place of the model on the
        split) and best-epoch selection; True when patience says stop."""
        row = {"phase": phase.name, "epoch": self.progress.epoch, "step": self.progress.global_step,
               "train_loss": train_loss, "seconds": None}
        if self.splits.val is not None:
            net, data = val or (self.model, self.splits.val)
            m = evaluate(net, data, self.pre, self.device, desc="validate", sharded=True)
            row["val"] = {k: v for k, v in m.items() if not isinstance(v, list)}
            self._select_best(self._selection_score(m))
        row.update(extra or {})
        self._tick()
        row["seconds"] = round(self.progress.train_seconds, 2)
        self.progress.history.append(row)
        if self.history_path is not None and dist.is_main():
            append_history(self.history_path, row)
        self.log(json.dumps(_short(row, self.balance.active)))
        patience = self.recipe.patience
        return bool(patience and self.progress.bad_epochs >= patience)

    def _selection_score(self, val_metrics: dict) -> float:
        """Best-epoch key: balanced accuracy when --balance is active, else `rank_score`.

        Validation is split from the same imbalanced pool, so plain accuracy there rewards the
        epochs that favour the majority classes: the opposite of what balancing asked for.
        """
        if self.balance.active and val_metrics.get("balanced_accuracy") is not None:
            return float(val_metrics["balanced_accuracy"])
        return rank_score(val_metrics)

    def _select_best(self, score: float) -> None:
        """Keep the best validation epoch; a tie goes to the later one but is no gain.

        Validation accuracy moves in coarse steps on small sets, so ties are common: the later
        epoch of a tie has trained longer at a lower LR, while early stopping still counts it
        as an epoch without improvement.
        """
        best = self.progress.best_metric
        if best is None or score >= best:
            self.best_state = {k: v.detach().cpu().clone().contiguous()
                               for k, v in self.model.state_dict().items()}
        if best is None or score > best:
            self.progress.best_metric = score
            self.progress.bad_epochs = 0
        else:
            self.progress.bad_epochs += 1

    def _checkpoint(self, optimizer) -> None:
        if self.ckpt_dir is None or not dist.is_main():
            return
        opt_state = optimizer.state_dict() if optimizer is not None else None
        save_checkpoint(self.ckpt_dir, self.model, opt_state, self.progress.to_dict(),
                        self.best_state)

    def _restore(self) -> None:
        if self.ckpt_dir is None:
            raise TrainingError("resume needs a checkpoint folder")
        state, opt_state, progress, best = dist.main_then_broadcast(
            lambda: load_checkpoint(self.ckpt_dir))
        load_strict(self.model, state, str(self.ckpt_dir))
        self.progress = Progress(**progress)
        self._opt_state = opt_state
        self.best_state = best
        # the history file restarts from what the checkpoint knew
        if self.history_path is not None and dist.is_main():
            write_history(self.history_path, self.progress.history)
        self.log(f"resuming at phase {self.progress.phase}, epoch {self.progress.epoch + 1}, "
                 f"batch {self.progress.batch}")

    def _install_signal_handlers(self) -> dict:
        def request_stop(signum, _frame):
            self._stop = True
            self.log(f"signal {signum}: saving a checkpoint after this step")

        old = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                old[sig] = signal.signal(sig, request_stop)
            except ValueError:  # not the main thread
                pass
        return old


def _short(row: dict, balanced: bool = False) -> dict:
    out = {k: v for k, v in row.items() if k not in ("val", "probe")}
    if "val" in row:  # a missing value is logged as None, never as a perfect 0.0 RMSE
        m = primary_metric(row["val"])
        out["val_acc" if m.name == "accuracy" else "val_rmse"] = (
            None if m.value is None else round(m.value, 4))
        if balanced and row["val"].get("balanced_accuracy") is not None:
            out["val_bal_acc"] = round(row["val"]["balanced_accuracy"], 4)  # what selects
    return out
