"""What the GPU path decides, checked on a CPU: which device, which autocast dtype, whether to
compile, channels-last, and whether the training images move onto the device. CUDA is faked
by monkeypatching the queries the code asks (nothing here touches a GPU)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from transferlab.data import ImageSet
from transferlab.engine import device as dev
from transferlab.errors import ConfigError

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch reports a CUDA device (with bf16) without one being there."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


def test_auto_is_cpu_without_cuda_and_cuda_with_it(monkeypatch, fake_cuda) -> None:
    assert dev.resolve_device("auto") == CUDA
    assert dev.resolve_device("cuda:1") == torch.device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.resolve_device("auto") == CPU


def test_asking_for_cuda_without_one_or_an_unknown_device_is_a_config_error(monkeypatch
                                                                             ) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device"):
        dev.resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        dev.resolve_device("gpu0")


def test_autocast_is_bf16_on_a_bf16_gpu_fp16_on_an_older_one_and_off_on_a_cpu(
        monkeypatch, fake_cuda) -> None:
    assert dev.amp_dtype(CUDA) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert dev.amp_dtype(CUDA) is torch.float16
    assert dev.amp_dtype(CPU) is None
    assert isinstance(dev.autocast(CPU), contextlib.nullcontext)  # CPU runs stay fp32
    with dev.autocast(CPU):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype is torch.float32


def test_compile_is_on_for_gpus_off_for_cpus_and_forced_either_way() -> None:
    net = torch.nn.Linear(2, 2)
    assert dev.maybe_compile(net, CPU) is net  # auto: CPUs gain little
    assert dev.maybe_compile(net, CUDA, "off") is net
    for device, mode in ((CUDA, "auto"), (CPU, "on")):  # lazy: nothing compiles until called
        wrapped = dev.maybe_compile(net, device, mode)
        assert wrapped is not net and wrapped._orig_mod is net
    with pytest.raises(ConfigError, match="--compile must be auto, on or off"):
        dev.maybe_compile(net, CPU, "yes")


def test_channels_last_for_image_batches_only() -> None:
    x = dev.to_channels_last(torch.randn(2, 3, 4, 4))
    assert x.is_contiguous(memory_format=torch.channels_last)
    tokens = {"input_ids": torch.ones(2, 5, dtype=torch.long)}
    assert dev.to_channels_last(tokens) is tokens
    flat = torch.randn(2, 3)
    assert dev.to_channels_last(flat) is flat


def test_free_memory_is_none_on_a_cpu() -> None:
    assert dev.free_memory(CPU) is None


def _images(n: int = 8) -> ImageSet:
    return ImageSet(torch.zeros(n, 3, 4, 4, dtype=torch.uint8), torch.zeros(n, dtype=torch.long),
                    ["a"], "test")


def test_images_move_onto_the_device_when_they_fit_in_half_its_free_memory(monkeypatch
                                                                           ) -> None:
    meta = torch.device("meta")  # stands in for a GPU: .to() works, no memory is used
    monkeypatch.setattr(dev, "free_memory", lambda device: 2 * 8 * 3 * 4 * 4)
    data = _images()
    assert "device-resident" in data.place(meta)
    assert data.images.device == meta


def test_images_too_big_for_the_device_stay_in_pinned_host_memory(monkeypatch) -> None:
    pinned = []
    monkeypatch.setattr(dev, "free_memory", lambda device: 8 * 3 * 4 * 4)  # needs 2x this
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: pinned.append(1) or self)
    data = _images()
    line = data.place(torch.device("meta"))
    assert "pinned host memory" in line and pinned == [1]
    assert data.images.device == CPU
