"""The traced fast path of large CPU prediction passes (engine/inference.py)."""

from __future__ import annotations

import torch

from transferlab.data import ImageSet
from transferlab.data.transforms import Preprocess
from transferlab.engine import inference, loop
from transferlab.model import build_model


def _model():
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", ["a", "b", "c"], pretrained=False, image_size=32)
    model.info.temperature = 1.7  # traced as a constant: must survive the trace
    with torch.no_grad():  # BN statistics that are not the identity, so folding matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_large_cpu_pass_uses_a_frozen_trace_that_matches_eager():
    model = _model()
    x = torch.randn(8, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():  # predict_logits runs in inference mode
        fast = inference.fast_forward(model, x, torch.device("cpu"), rows=10_000)
        assert isinstance(fast, torch.jit.ScriptModule)
        y = torch.randn(5, 3, 32, 32)  # another batch size and memory format
        assert torch.allclose(fast(y), model(y), atol=1e-4)


def test_small_passes_text_and_gpu_keep_the_eager_model():
    model = _model()
    x = torch.randn(8, 3, 32, 32)
    cpu = torch.device("cpu")
    assert inference.fast_forward(model, x, cpu, rows=100) is model
    assert inference.fast_forward(model, {"input_ids": x}, cpu, rows=10_000) is model
    assert inference.fast_forward(model, x, torch.device("cuda"), rows=10_000) is model


def test_a_trace_that_disagrees_falls_back_to_eager(monkeypatch):
    model = _model()

    class Wrong(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 3)

    monkeypatch.setattr(torch.jit, "freeze", lambda _traced: torch.jit.script(Wrong()))
    x = torch.randn(8, 3, 32, 32)
    assert inference.fast_forward(model, x, torch.device("cpu"), rows=10_000) is model


def test_predict_logits_gives_the_same_logits_either_way(monkeypatch):
    model = _model()
    g = torch.Generator().manual_seed(1)
    data = ImageSet(torch.randint(0, 255, (40, 1, 28, 28), dtype=torch.uint8, generator=g),
                    torch.zeros(40, dtype=torch.int64), ["a", "b", "c"], "random")
    pre = Preprocess.from_spec(model.spec, 32)
    cpu = torch.device("cpu")
    eager = loop.predict_logits(model, data, pre, cpu, batch_size=16)
    monkeypatch.setattr(inference, "FAST_MIN_ROWS", 0)
    traced = loop.predict_logits(model, data, pre, cpu, batch_size=16)
    assert torch.allclose(traced, eager, atol=1e-4)


def test_no_gradient_passes_batch_by_device_unless_asked():
    from transferlab.engine.device import (
        CPU_INFERENCE_BATCH,
        GPU_INFERENCE_BATCH,
        inference_batch_size,
    )

    assert inference_batch_size(torch.device("cpu")) == CPU_INFERENCE_BATCH == 32
    assert inference_batch_size(torch.device("cuda")) == GPU_INFERENCE_BATCH == 256
    assert inference_batch_size(torch.device("cpu"), 7) == 7


def test_predict_logits_and_features_default_to_the_cpu_batch():
    from transferlab.engine.features import compute_features

    model = _model()
    seen: list[int] = []
    model.register_forward_pre_hook(lambda _m, args: seen.append(len(args[0])))
    data = ImageSet(torch.zeros(150, 1, 28, 28, dtype=torch.uint8),
                    torch.zeros(150, dtype=torch.int64), ["a", "b", "c"], "zeros")
    pre = Preprocess.from_spec(model.spec, 32)
    cpu = torch.device("cpu")
    logits = loop.predict_logits(model, data, pre, cpu)  # 150 rows: eager, hook sees batches
    assert seen == [32, 32, 32, 32, 22] and logits.shape == (150, 3)
    seen.clear()
    model.backbone.register_forward_pre_hook(lambda _m, args: seen.append(len(args[0])))
    feats = compute_features(model.backbone, data, pre, cpu)
    assert seen == [32, 32, 32, 32, 22] and len(feats) == 150
