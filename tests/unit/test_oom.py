"""Out of memory in a step: the same batch is retried as micro-batches, with the same result."""

from __future__ import annotations

import copy

import pytest
import torch

from transferlab.engine.loop import StepContext, train_step
from transferlab.engine.strategies import Recipe
from transferlab.errors import TrainingError


class Limited(torch.nn.Module):
    """A small net that 'runs out of memory' on batches larger than `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))

    def forward(self, x):
        if len(x) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.net(x)


def _step(model, x, y, ctx=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    recipe = Recipe(2, 1, len(y), 0.1, label_smoothing=0.0, grad_clip=None)
    train_step(model, x, y, opt, torch.device("cpu"), recipe, ctx=ctx)
    return model


def test_oom_retries_as_micro_batches_with_identical_update():
    torch.manual_seed(0)
    x, y = torch.randn(16, 3, 2, 2), torch.randint(0, 3, (16,))
    roomy = Limited(limit=10_000)
    tight = copy.deepcopy(roomy)
    tight.limit = 4
    ctx = StepContext(0, 0, 0, 0)
    with pytest.warns(UserWarning, match="out of memory"):
        _step(tight, x, y, ctx)
    _step(roomy, x, y)
    assert ctx.micro_batches == 4
    for a, b in zip(roomy.parameters(), tight.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_oom_with_single_images_is_a_clear_error():
    model = Limited(limit=0)
    with pytest.raises(TrainingError, match="image-size"), pytest.warns(UserWarning):
        _step(model, torch.randn(4, 3, 2, 2), torch.randint(0, 3, (4,)), StepContext(0, 0, 0, 0))
