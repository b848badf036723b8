"""Device choices in one place: which device, autocast dtype, memory format, and what to do
when the device says no (a compiler that fails, memory that runs out).

CPU runs stay fp32 (bf16 autocast is slower than fp32 on most CPUs); channels-last pays on both
CPU and GPU for convolutional nets.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

from transferlab.errors import ConfigError, TrainingError

T = TypeVar("T")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} asked for, but no CUDA device is available; "
                          "use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from exc


def amp_dtype(device: torch.device) -> torch.dtype | None:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.type == "cuda":
        return torch.float16
    return None


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    dtype = amp_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def maybe_compile(model: torch.nn.Module, device: torch.device,
                  mode: str = "auto") -> torch.nn.Module:
    """torch.compile on GPUs by default ("auto"); "on"/"off" force it. CPUs gain little."""
    if mode not in ("auto", "on", "off"):
        raise ConfigError(f"--compile must be auto, on or off, not {mode!r}")
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return model
    return CompiledOrEager(model, torch.compile(model))


class CompiledOrEager(torch.nn.Module):
    """A `torch.compile`d module with its eager original behind it.

    Compilation happens lazily, inside the first forward call, and fails on machines a user
    cannot fix from transferlab (no Triton, an unsupported GPU or op, a broken C++ toolchain):
    that must cost the speed-up, not the run. The first failure warns once and every later
    call runs the eager module, which shares the parameters, so training continues from the
    same state. Out-of-memory errors pass through to the step's own retry (engine/loop.py).
    """

    def __init__(self, eager: torch.nn.Module, compiled: Callable) -> None:
        super().__init__()
        self.module = eager  # the only registered child: parameters are listed once
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "failure", None)

    @property
    def _orig_mod(self) -> torch.nn.Module:
        return self.module

    def __getattr__(self, name: str):
        """Attributes the wrapper lacks are the model's (`.backbone`, `.stage_groups()`), as
        torch.compile's own wrapper forwards them."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["module"], name)

    def forward(self, *args, **kwargs):
        if self._compiled is None:
            return self.module(*args, **kwargs)
        try:
            return self._compiled(*args, **kwargs)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "run eager"
            reason = _root_cause(exc)
            object.__setattr__(self, "_compiled", None)
            object.__setattr__(self, "failure", reason)
            warnings.warn(f"torch.compile failed ({reason}); continuing without it (the "
                          "same model, eager speed; --compile off skips the attempt)", stacklevel=2)
            return self.module(*args, **kwargs)


def free_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device; None where the data should stay in host memory."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


# Rows per batch of a pass without gradients (test predictions, features). On a CPU a batch
# whose activations fit the caches runs faster per image than a large one:
# bench/infer_batch_bench.py (EfficientNet-Lite0, 96 px, 2 cores; docs/PEER.md) measured 32 at
# 1.7-2.0x the images per second of 256 on an AVX2 CPU, where 64 gave 1.4x; on an AVX-512 one
# 64 led 32 by 3-13% and both beat 256 by 1.3-1.45x. 32 is the better bet. GPUs want large
# batches.
CPU_INFERENCE_BATCH = 32
GPU_INFERENCE_BATCH = 256


def inference_batch_size(device: torch.device, asked: int | None = None) -> int:
    """`asked` when given, else the batch a no-gradient pass uses on `device`."""
    if asked is not None:
        return asked
    return CPU_INFERENCE_BATCH if device.type == "cpu" else GPU_INFERENCE_BATCH


def to_channels_last(x: torch.Tensor | dict) -> torch.Tensor | dict:
    """Image batches to channels-last; anything else (e.g. a dict of token ids) unchanged."""
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _root_cause(exc: BaseException) -> str:
    """`Type: first line` of the innermost cause: dynamo wraps a backend's own error (e.g. "no
    Triton") in BackendCompilerFailed, whose first line names only the backend."""
    chain = [exc]
    while len(chain) < 10:
        inner = getattr(chain[-1], "inner_exception", None) or chain[-1].__cause__
        if inner is None or inner in chain:
            break
        chain.append(inner)
    root = chain[-1]
    line = (str(root).strip().splitlines() or [""])[0][:200]
    outer = f"{type(exc).__name__}: " if root is not exc else ""
    return f"{outer}{type(root).__name__}: {line}"


def shrinking_batches(n: int, batch_size: int, run: Callable[[int, int], T],
                      device: torch.device, what: str) -> Iterator[tuple[int, int, T]]:
    """`run(lo, hi)` over consecutive row blocks of `n` rows, yielding (lo, hi, result).

    For passes without gradients (features, predictions), where each row's result does not
    depend on its batch-mates: on out-of-memory the same block is retried at half the size, and
    the smaller size is kept for the rest of the pass, so a large test set on a small GPU
    finishes instead of crashing. A single row that does not fit is a clear error.
    """
    lo, size = 0, max(1, batch_size)
    while lo < n:
        hi = min(lo + size, n)
        try:
            result = run(lo, hi)
        except torch.OutOfMemoryError:
            if hi - lo <= 1:
                raise TrainingError(
                    f"out of memory {what} even one image at a time; use a smaller "
                    "--image-size or a smaller backbone") from None
            size = (hi - lo) // 2
            if device.type == "cuda":
                torch.cuda.empty_cache()
            warnings.warn(f"out of memory {what}: retrying with batches of {size}", stacklevel=2)
            continue
        yield lo, hi, result
        lo = hi
