"""When the device says no: a failing torch.compile falls back to eager, and passes without
gradients (features, predictions) shrink their batch on out-of-memory. Both are GPU paths that
no GPU has exercised yet, so they are pinned here on the CPU with simulated failures."""

from __future__ import annotations

import functools

import pytest
import torch

from transferlab.data import ImageSet
from transferlab.data.transforms import Preprocess
from transferlab.engine import device as dev
from transferlab.engine import loop
from transferlab.engine.features import compute_features
from transferlab.errors import TrainingError
from transferlab.model import build_model

CPU = torch.device("cpu")


def _failing_backend(gm, example_inputs):
    raise RuntimeError("Cannot find a working triton installation (simulated)")


def test_a_compiler_failure_warns_once_and_trains_on_eagerly(monkeypatch) -> None:
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile,
                                                            backend=_failing_backend))
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    wrapped = dev.maybe_compile(net, CPU, "on")
    assert list(wrapped.parameters()) == list(net.parameters())  # listed once, shared
    assert wrapped.in_features == 4  # the model's attributes read through, as torch's wrapper
    x = torch.randn(5, 4)
    with pytest.warns(UserWarning, match=r"torch.compile failed .*triton.*--compile off"):
        out = wrapped(x)
    assert torch.equal(out, net(x))
    assert "triton" in wrapped.failure
    out.sum().backward()  # gradients reach the shared parameters
    assert net.weight.grad is not None
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning, no second attempt
        assert torch.equal(wrapped(x), net(x))


def test_out_of_memory_in_a_compiled_call_reaches_the_step_retry() -> None:
    def oom(*_a, **_k):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    wrapped = dev.CompiledOrEager(torch.nn.Linear(4, 3), oom)
    with pytest.raises(torch.OutOfMemoryError):
        wrapped(torch.randn(2, 4))
    assert wrapped.failure is None  # not mistaken for a compiler failure


def test_shrinking_batches_retry_the_same_rows_at_half_size_and_keep_it() -> None:
    calls = []

    def run(lo, hi):
        calls.append((lo, hi))
        if hi - lo > 3:
            raise torch.OutOfMemoryError("simulated")
        return list(range(lo, hi))

    with pytest.warns(UserWarning, match="out of memory predicting: retrying with batches of"):
        got = list(dev.shrinking_batches(11, 8, run, CPU, "predicting"))
    assert [r for _, _, part in got for r in part] == list(range(11))
    assert calls[:3] == [(0, 8), (0, 4), (0, 2)]
    assert all(hi - lo <= 2 for lo, hi, _ in got)  # the smaller size is kept


def test_one_row_that_does_not_fit_is_a_clear_error() -> None:
    def run(lo, hi):
        raise torch.OutOfMemoryError("simulated")

    with pytest.raises(TrainingError, match="even one image at a time; use a smaller "
                                            "--image-size"), pytest.warns(UserWarning):
        list(dev.shrinking_batches(4, 4, run, CPU, "extracting features"))


class Tight(torch.nn.Module):
    """Wraps a module and 'runs out of memory' on batches above `limit` rows."""

    def __init__(self, inner: torch.nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit = inner, limit

    def forward(self, x):
        if len(x) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def _data(n: int = 20) -> ImageSet:
    g = torch.Generator().manual_seed(1)
    return ImageSet(torch.randint(0, 255, (n, 1, 28, 28), dtype=torch.uint8, generator=g),
                    torch.zeros(n, dtype=torch.int64), ["a", "b"], "random")


def test_predictions_and_features_under_memory_pressure_equal_the_roomy_ones() -> None:
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", ["a", "b"], pretrained=False, image_size=32).eval()
    pre = Preprocess.from_spec(model.spec, 32)
    data = _data()
    roomy = loop.predict_logits(model, data, pre, CPU, batch_size=16)
    with pytest.warns(UserWarning, match="out of memory predicting"):
        tight = loop.predict_logits(Tight(model, 5), data, pre, CPU, batch_size=16)
    assert torch.allclose(tight, roomy, atol=1e-5) and tight.shape == (20, 2)
    backbone = model.backbone
    roomy_f = compute_features(backbone, data, pre, CPU, batch_size=16)
    with pytest.warns(UserWarning, match="out of memory extracting features"):
        tight_f = compute_features(Tight(backbone, 3), data, pre, CPU, batch_size=16)
    assert torch.allclose(tight_f, roomy_f, atol=1e-5)


def test_fit_with_compile_on_survives_a_failing_compiler(monkeypatch, tmp_path) -> None:
    """`fit --compile on` where the compiler fails: one warning and one attempt for all of
    gradual's phases, and the run trains, saves and scores as an uncompiled run does."""
    from tests.conftest import write_folder
    from transferlab import fit

    data = write_folder(tmp_path / "imgs", classes=2, per_class=6)
    tiny = {"image_size": 32, "epochs": 1, "batch_size": 4, "device": "cpu", "per_class": 0,
            "strategy": "gradual", "out": str(tmp_path / "runs"), "log": None}
    eager = fit(data, name="eager", compile="off", **tiny)

    attempts = []

    def broken_compile(model, *args, **kwargs):  # fails at the first call, as a compiler does
        def call(*a, **k):
            attempts.append(1)
            raise RuntimeError("Cannot find a working triton installation (simulated)")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(UserWarning, match="torch.compile failed") as caught:
        survived = fit(data, name="compiled", compile="on", **tiny)
    assert len(attempts) == 1
    assert len([w for w in caught if "torch.compile failed" in str(w.message)]) == 1
    assert survived.metrics["accuracy"] == eager.metrics["accuracy"]
    assert (survived.run_dir / "model.safetensors").is_file()
