"""Device choices in one place: which device, autocast dtype, memory format.

CPU runs stay fp32 (bf16 autocast is slower than fp32 on most CPUs); channels-last pays on both
CPU and GPU for convolutional nets.
"""

from __future__ import annotations

import contextlib

import torch

from transferlab.errors import ConfigError


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
    return torch.compile(model)


def free_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device; None where the data should stay in host memory."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def to_channels_last(x: torch.Tensor | dict) -> torch.Tensor | dict:
    """Image batches to channels-last; anything else (e.g. a dict of token ids) unchanged."""
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
