"""Data-parallel training under torchrun, as a handful of small functions.

A run started by `torchrun` (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT in the environment)
joins one process group; anything else stays a single process, and every function here is then an
identity or a no-op, so the engine has one code path.

The rule that makes a distributed run reproduce a single-process run: every rank walks the same
global batches in the same order (`epoch_batches` is seeded, not rank-dependent) and takes its own
contiguous block of each (`shard`). Gradients are averaged by DistributedDataParallel, losses are
weighted by shard size, evaluation logits are gathered in rank order. Rank 0 alone writes files
and logs; what it decides (the run folder, a resumed checkpoint) is broadcast to the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
import torch.distributed as dist

from transferlab.errors import ConfigError

T = TypeVar("T")
ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


# -- who am I --------------------------------------------------------------------------------
def is_distributed() -> bool:
    """True inside an initialised process group of 2+ ranks."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """Rank 0 (or the only process): the one that logs and writes the run folder."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


# -- life cycle ------------------------------------------------------------------------------
def init_from_env() -> bool:
    """Join the torchrun process group if the environment describes one; False = single process.

    The backend is chosen per tensor device ("cpu:gloo,cuda:nccl" when CUDA exists): GPU tensors
    (DDP gradients) go through NCCL and CPU tensors (gathered logits, small objects) through gloo,
    so this can run before the config (and with it the device) is known, e.g. on --resume.
    """
    if dist.is_available() and dist.is_initialized():
        return is_distributed()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    missing = [k for k in ENV if k not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE is set but {', '.join(missing)} are not; start "
                          "distributed runs with torchrun (see docs/DISTRIBUTED.md)")
    cuda = torch.cuda.is_available()
    if cuda and int(os.environ.get("LOCAL_RANK", "0")) < torch.cuda.device_count():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo",
                            init_method="env://")
    return True


def cleanup() -> None:
    """Leave the process group (idempotent), so the process exits without NCCL warnings."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """One GPU per process: cuda[:N] means this rank's cuda:LOCAL_RANK under torchrun."""
    if device.type != "cuda" or not is_distributed():
        return device
    if local_rank() >= torch.cuda.device_count():
        raise ConfigError(f"rank {rank()} has LOCAL_RANK {local_rank()} but this node has "
                          f"{torch.cuda.device_count()} GPU(s); use --nproc-per-node "
                          f"{torch.cuda.device_count()} or --device cpu")
    return torch.device("cuda", local_rank())


# -- sharding --------------------------------------------------------------------------------
def shard_bounds(n: int, rank_: int | None = None, world: int | None = None) -> tuple[int, int]:
    """[lo, hi) of this rank's contiguous block of n items; sizes differ by at most one.

    Earlier ranks take the extra items, so rank 0 is empty only when n is 0. Blocks in rank
    order tile 0..n exactly: no item is dropped or repeated (no padding), which is what lets
    gathered evaluation count every sample once.
    """
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    base, extra = divmod(n, w)
    lo = r * base + min(r, extra)
    return lo, lo + base + (1 if r < extra else 0)


def shard(index: torch.Tensor, rank_: int | None = None, world: int | None = None
          ) -> torch.Tensor:
    """This rank's block of `index` (the whole of it in a single process)."""
    lo, hi = shard_bounds(len(index), rank_, world)
    return index[lo:hi]


def check_global_batch(batch_size: int) -> None:
    """--batch-size is the global batch: every rank must get at least one sample of it."""
    if batch_size < world_size():
        raise ConfigError(f"--batch-size {batch_size} is the global batch, split across "
                          f"{world_size()} processes; use at least {world_size()}")


# -- collectives -----------------------------------------------------------------------------
def global_mean(value: torch.Tensor, n_local: int, n_global: int) -> torch.Tensor:
    """The mean over the global batch of a per-rank mean over `n_local` samples."""
    if not is_distributed():
        return value
    total = value.detach().float().reshape(1) * n_local
    dist.all_reduce(total)
    return total[0] / n_global


def any_rank(flag: bool) -> bool:
    """True on every rank if it is true on any: ranks must stop at the same step."""
    if not is_distributed():
        return flag
    t = torch.tensor([int(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def all_gather_tensor(t: torch.Tensor) -> torch.Tensor:
    """Every rank's `t`, concatenated along dim 0 in rank order, on the CPU.

    Shards may differ in length (or be empty): rows are padded to the longest for transport
    and trimmed after, so the result has exactly the sum of the shards' rows.
    """
    if not is_distributed():
        return t
    t = t.detach().cpu().contiguous()
    metas: list = [None] * world_size()
    dist.all_gather_object(metas, (tuple(t.shape), t.dtype))
    shaped = [m for m in metas if m[0][0] > 0] or metas
    tail, dtype = shaped[0][0][1:], shaped[0][1]
    rows = max(m[0][0] for m in metas)
    padded = torch.zeros((rows, *tail), dtype=dtype)
    padded[:len(t)] = t.reshape(len(t), *tail).to(dtype)
    parts = [torch.empty_like(padded) for _ in range(world_size())]
    dist.all_gather(parts, padded)
    return torch.cat([p[:m[0][0]] for p, m in zip(parts, metas)])


def broadcast_object(obj: T) -> T:
    """Rank 0's `obj` on every rank (pickled; for small things and checkpoints)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def main_then_broadcast(fn: Callable[[], T]) -> T:
    """Run `fn` on rank 0 only and give every rank its result.

    For decisions that must agree (run folder name, resumed config/checkpoint) and for work that
    writes files; other ranks wait. If rank 0 raises, torchrun stops the other ranks.
    """
    return broadcast_object(fn() if is_main() else None)


def broadcast_(tensors: Iterable[torch.Tensor]) -> None:
    """Overwrite each tensor with rank 0's values, in place."""
    if not is_distributed():
        return
    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=0)


def sync_buffers(module: torch.nn.Module) -> None:
    """Rank 0's BatchNorm statistics everywhere, so every rank evaluates the saved model.

    Trainable BN updates statistics from each rank's own shard; frozen BN never changes them.
    """
    broadcast_(module.buffers())


# -- model and logging -----------------------------------------------------------------------
def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel over the currently trainable parameters; the model itself alone.

    Build it after freezing: DDP registers the parameters that require grad at construction, so
    each phase (which may freeze differently) gets its own wrapper.
    """
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def main_only(log: Callable[..., None]) -> Callable[..., None]:
    """`log` on rank 0, silence elsewhere: one copy of every line, not one per process."""
    if is_main():
        return log
    return lambda *_args, **_kw: None
