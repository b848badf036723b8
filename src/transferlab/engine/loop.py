"""One epoch of training and one pass of prediction, as small explicit functions.

Randomness is stateless: the batch order of an epoch and the augmentation/dropout of a step are
derived from (seed, phase, epoch, step). A run resumed at any step therefore replays exactly what
an uninterrupted run would have done.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from transferlab.data import ImageSet
from transferlab.data.transforms import Preprocess
from transferlab.engine import distributed as dist
from transferlab.engine.balance import NO_BALANCE, Balance
from transferlab.engine.device import autocast, inference_batch_size, to_channels_last
from transferlab.engine.inference import (
    fast_forward,
    in_index_order,
    longest_first,
    rows_in_batches,
    token_lengths,
)
from transferlab.engine.optim import apply_lr
from transferlab.engine.strategies import Phase, Recipe
from transferlab.errors import TrainingError
from transferlab.results.metrics import classification_metrics, regression_metrics


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers; same parts → same seed on every machine."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2))) & (2**63 - 1)
    return h


def generator(seed: int) -> torch.Generator:
    """A CPU generator: augmentation draws happen on the CPU so every device draws the same."""
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


GROUP_BATCHES = 50  # length grouping sorts the shuffled rows within windows of 50 batches


def epoch_batches(n: int, batch_size: int, seed: int,
                  sample_weights: torch.Tensor | None = None,
                  lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Shuffled index batches; the last short batch is kept only if it has 2+ samples.

    With `sample_weights` (class-balanced sampling) the epoch is n draws with replacement in
    proportion to them: the same number of batches, so schedules and resume positions are
    unchanged, and seeded like the shuffle, so every rank walks the same global batches.
    With `lengths` (texts' token counts, `Recipe.group_by_length`) each window of
    GROUP_BATCHES batches of the shuffled order is sorted by length before it is cut, and the
    batches are then shuffled: each batch holds texts of about one length, so it pads little
    (fortunes: 2.9x fewer tokens per epoch), and the batch count is unchanged.
    """
    g = generator(seed)
    if sample_weights is None:
        perm = torch.randperm(n, generator=g)
    else:
        perm = torch.multinomial(sample_weights.double(), n, replacement=True, generator=g)
    if lengths is not None:
        window = GROUP_BATCHES * batch_size
        perm = torch.cat([w[torch.argsort(lengths[w], descending=True, stable=True)]
                          for w in perm.split(window)])
    batches = list(perm.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches = batches[:-1]
    if lengths is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
    return batches


@dataclass
class StepContext:
    """Where in the run a step is; used for seeds and error messages."""

    seed: int
    phase: int
    epoch: int
    global_step: int
    micro_batches: int = 1  # raised on out-of-memory; see train_step


def loss_fn(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float,
            class_weights: torch.Tensor | None = None,
            logit_offset: torch.Tensor | None = None) -> torch.Tensor:
    """Batch loss; with `class_weights`, the weighted mean of each image's (label-smoothed)
    cross-entropy, weighted by its class: sum(w[y] * ce) / sum(w[y]). `logit_offset` (one
    value per class) is added to the logits inside the loss only (`--balance
    logit-adjust-loss`)."""
    if target.is_floating_point():
        return F.smooth_l1_loss(logits.squeeze(-1).float(), target)
    if logit_offset is not None:
        logits = logits.float() + logit_offset.to(logits.device)
    if class_weights is None:
        return F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
    per = F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing,
                          reduction="none")
    w = class_weights.to(per.device)[target]
    return (per * w).sum() / w.sum()


def loss_mass(target: torch.Tensor, class_weights: torch.Tensor | None = None) -> float:
    """What a batch's loss is a mean over: its size, or its weight sum under class weights.

    Parts of a batch (micro-batches, DDP shards) are combined in proportion to their mass, so
    the step sees the loss of the whole batch however it was cut.
    """
    if class_weights is None or target.is_floating_point():
        return float(len(target))
    return float(class_weights.to(target.device)[target].sum())


def _split(x, chunks: int) -> list:
    """A batch (tensor, or dict of tensors for text) cut into `chunks` row blocks."""
    if isinstance(x, dict):
        parts = {k: v.chunk(chunks) for k, v in x.items()}
        return [{k: parts[k][i] for k in parts} for i in range(len(next(iter(parts.values()))))]
    return list(x.chunk(chunks))


def _forward_backward(model: torch.nn.Module, x, y: torch.Tensor, device: torch.device,
                      label_smoothing: float, weight: float, chunks: int,
                      class_weights: torch.Tensor | None = None,
                      logit_offset: torch.Tensor | None = None) -> torch.Tensor:
    """Gradients of the batch-mean loss, accumulated over `chunks` micro-batches."""
    def loss_of(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loss_fn(logits, target, label_smoothing, class_weights, logit_offset)

    if chunks == 1 or len(y) < 2:
        with autocast(device):
            logits = model(to_channels_last(x))
        # An empty shard still joins DDP's gradient all-reduce, with zero gradients.
        loss = loss_of(logits, y) if len(y) else logits.sum() * 0.0
        (loss * weight if weight != 1.0 else loss).backward()
        return loss.detach()
    total = torch.zeros((), device=y.device)
    mass = loss_mass(y, class_weights)
    for xc, yc in zip(_split(x, chunks), y.chunk(chunks)):
        with autocast(device):
            part = loss_of(model(to_channels_last(xc)), yc)
        share = loss_mass(yc, class_weights) / mass
        (part * (weight * share)).backward()
        total += part.detach() * share
    return total


def train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
               optimizer: torch.optim.Optimizer, device: torch.device, recipe: Recipe,
               weight: float = 1.0, ctx: StepContext | None = None,
               class_weights: torch.Tensor | None = None,
               logit_offset: torch.Tensor | None = None) -> torch.Tensor:
    """One optimizer step with the recipe's label smoothing and gradient clipping; `weight`
    scales this rank's loss (see `local_batch`), `class_weights` weight each image's loss by
    its class (`--balance weights`), `logit_offset` shifts the logits inside the loss
    (`--balance logit-adjust-loss`).

    Out of memory: the step is retried with the batch cut into twice as many micro-batches
    whose gradients are accumulated, so the optimizer still sees the same batch (same results,
    same resume), and the finer split is kept (in `ctx`) for the following steps.
    """
    chunks = ctx.micro_batches if ctx is not None else 1
    while True:
        optimizer.zero_grad(set_to_none=True)
        try:
            loss = _forward_backward(model, x, y, device, recipe.label_smoothing, weight,
                                     chunks, class_weights, logit_offset)
            break
        except torch.OutOfMemoryError:
            optimizer.zero_grad(set_to_none=True)
            if chunks >= len(y):
                raise TrainingError(
                    "out of memory even with one image per micro-batch; use a smaller "
                    "--image-size or a smaller backbone") from None
            chunks *= 2
            if device.type == "cuda":
                torch.cuda.empty_cache()
            warnings.warn(f"out of memory: retrying this step as {chunks} micro-batches of "
                          f"~{-(-len(y) // chunks)} images (gradients accumulated)", stacklevel=2)
    if ctx is not None:
        ctx.micro_batches = chunks
    if recipe.grad_clip:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
    optimizer.step()
    return loss.detach()


def check_finite(loss: torch.Tensor, ctx: StepContext, optimizer: torch.optim.Optimizer) -> None:
    if not math.isfinite(float(loss)):
        lrs = ", ".join(f"{g.get('name', i)}={g['lr']:.2e}"
                        for i, g in enumerate(optimizer.param_groups))
        raise TrainingError(
            f"loss became {float(loss)} at phase {ctx.phase}, epoch {ctx.epoch + 1}, "
            f"step {ctx.global_step} (learning rates: {lrs}). The last good checkpoint is kept. "
            "Fix: lower --lr, keep gradient clipping on, or check the data for extreme values."
        )


def grouping_lengths(data: object, recipe: Recipe, phase: Phase) -> torch.Tensor | None:
    """Token counts to batch this phase's rows by (`epoch_batches`), or None: images, the
    recipe's `group_by_length` off, or a phase that opts out (scratch, `Phase`)."""
    if not (recipe.group_by_length and phase.group_by_length):
        return None
    return token_lengths(data)


def train_one_epoch(model: torch.nn.Module, data: ImageSet, pre: Preprocess,
                    optimizer: torch.optim.Optimizer, lr_at: Callable[[int], float],
                    ctx: StepContext, phase: Phase, recipe: Recipe, device: torch.device,
                    start_batch: int = 0,
                    on_step: Callable[[int, float], None] | None = None,
                    balance: Balance | None = None) -> float:
    """Train over one epoch of `phase`, starting at batch `start_batch` (resume).

    The recipe gives the batch size, loss and augmentation settings, the phase whether to
    augment; `lr_at` is the LR multiplier per global step (an `optim.LRSchedule`); `balance`
    the class weights or balanced sampling (`engine.balance`). Returns the mean loss;
    `on_step(next_batch, loss)` runs after every step.
    """
    balance = balance or NO_BALANCE
    cw, offset = balance.loss_weights, balance.loss_offset
    batches = epoch_batches(len(data), recipe.batch_size,
                            derived_seed(ctx.seed, ctx.phase, ctx.epoch),
                            balance.sample_weights(data.labels),
                            grouping_lengths(data, recipe, phase))
    total, count = 0.0, 0
    bar = tqdm(batches[start_batch:], desc=f"epoch {ctx.epoch + 1}", unit="batch", leave=False,
               disable=len(batches) < 8 or not dist.is_main())
    for i, idx in enumerate(bar, start=start_batch):
        step_seed = derived_seed(ctx.seed, ctx.phase, ctx.epoch, i)
        torch.manual_seed(step_seed)  # dropout / drop-path
        apply_lr(optimizer, lr_at(ctx.global_step))
        x, y, weight = local_batch(data, idx, pre, device, phase.augment, step_seed,
                                   recipe.shift, recipe.flip, cw)
        loss = train_step(model, x, y, optimizer, device, recipe, weight, ctx, cw, offset)
        loss = dist.global_mean(loss, loss_mass(y, cw), loss_mass(data.labels[idx], cw))
        check_finite(loss, ctx, optimizer)
        total += float(loss)
        count += 1
        ctx.global_step += 1
        if on_step is not None:
            on_step(i + 1, float(loss))
    return total / max(count, 1)


def local_batch(data: ImageSet, idx: torch.Tensor, pre: Preprocess, device: torch.device,
                augment: bool, step_seed: int, shift: float, flip: bool,
                class_weights: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """This process's rows of global batch `idx`, their labels, and its loss weight.

    With augmentation under torchrun, the random shift/flip are drawn for the whole global batch
    (as a single process draws them) and each rank keeps its rows, so every sample is augmented
    exactly as in a single-process run. The weight n_local * world / n_global turns DDP's mean of
    per-rank means into the mean over the global batch, also for an uneven last batch (with
    class weights, n counts weight: `loss_mass`). In a single process this is
    `data.batch(idx)` with weight 1.
    """
    lo, hi = dist.shard_bounds(len(idx))
    if augment and dist.world_size() > 1:
        x = _rows(data.batch(idx, pre, device, True, generator(step_seed), shift, flip), lo, hi)
    else:
        x = data.batch(idx[lo:hi], pre, device, augment, generator(step_seed), shift, flip)
    y = data.labels[idx[lo:hi]].to(device, non_blocking=True)
    if class_weights is None:
        return x, y, (hi - lo) * dist.world_size() / len(idx)
    mass = loss_mass(data.labels[idx], class_weights)
    return x, y, loss_mass(data.labels[idx[lo:hi]], class_weights) * dist.world_size() / mass


def _rows(x: torch.Tensor | dict, lo: int, hi: int) -> torch.Tensor | dict:
    """Rows lo:hi of a model input: a tensor, or a dict of tensors (tokenised text)."""
    if isinstance(x, dict):
        return {k: v[lo:hi] for k, v in x.items()}
    return x[lo:hi]


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, data: ImageSet, pre: Preprocess,
                   device: torch.device, batch_size: int | None = None, desc: str = "predict",
                   sharded: bool = False) -> torch.Tensor:
    """Logits for every row of `data`, in order, on the CPU.

    `sharded` (call it on every rank): each rank predicts its own block of rows and the blocks
    are gathered in rank order, so each sample is predicted once. Same result in one process.
    `batch_size` None: the device's no-gradient batch (`device.inference_batch_size`).
    """
    was_training = model.training
    model.eval()
    index = dist.shard(torch.arange(len(data))) if sharded else torch.arange(len(data))
    order = longest_first(data, index)  # texts: batches of one length pad little
    rows = index if order is None else index[order]
    forward = None

    def run(lo: int, hi: int) -> torch.Tensor:
        nonlocal forward
        x = to_channels_last(data.batch(rows[lo:hi], pre, device))
        if forward is None:  # a traced copy for large CPU passes (engine/inference.py)
            forward = fast_forward(model, _rows(x, 0, 8), device, len(index))
        with autocast(device):
            return forward(x).float().cpu()

    logits = in_index_order(
        rows_in_batches(len(index), inference_batch_size(device, batch_size), run, device,
                        "predicting", desc), order)
    model.train(was_training)
    return dist.all_gather_tensor(logits) if sharded else logits


def evaluate(model: torch.nn.Module, data: ImageSet, pre: Preprocess, device: torch.device,
             batch_size: int | None = None, desc: str = "evaluate", sharded: bool = False) -> dict:
    return metrics_from_logits(
        predict_logits(model, data, pre, device, batch_size, desc, sharded), data)


def metrics_from_logits(logits: torch.Tensor, data: ImageSet) -> dict:
    y = data.labels.numpy()
    if data.is_regression:
        return regression_metrics(y, logits.squeeze(-1).numpy())
    metrics = classification_metrics(y, logits.argmax(-1).numpy(), data.classes)
    metrics["loss"] = float(F.cross_entropy(logits, data.labels))
    return metrics

