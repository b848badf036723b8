"""The LR schedule: linear warmup, cosine to zero (or flat), a pure function of the step."""

from __future__ import annotations

import random

import pytest

from transferlab.engine.optim import LRSchedule, lr_schedule, phase_schedule
from transferlab.engine.strategies import Phase, Recipe


def test_warmup_is_linear_from_one_step_to_the_full_rate():
    lr_at = lr_schedule(100, 0.1)  # 10 warmup steps
    assert lr_at.warmup_steps == 10
    assert [lr_at(s) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lr_at(10) == pytest.approx(1.0)  # cosine starts at the top


def test_cosine_ends_at_zero_and_stays_there():
    lr_at = lr_schedule(100, 0.1)
    assert 0.0 < lr_at(99) < 1e-3
    assert lr_at(100) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(500) == pytest.approx(0.0, abs=1e-12)  # past the end: no negative rates
    halfway = 10 + (100 - 10) // 2
    assert lr_at(halfway) == pytest.approx(0.5)


@pytest.mark.parametrize("total,frac", [(100, 0.1), (7, 0.3), (1000, 0.0), (3, 0.9)])
def test_monotone_up_through_warmup_then_down(total, frac):
    lr_at = lr_schedule(total, frac)
    values = [lr_at(s) for s in range(total + 2)]
    w = lr_at.warmup_steps
    assert values[:w] == sorted(values[:w])
    assert values[w:] == sorted(values[w:], reverse=True)
    assert all(0.0 <= v <= 1.0 for v in values)


def test_no_warmup_starts_at_full_rate_and_constant_stays_flat():
    assert lr_schedule(50, 0.0)(0) == 1.0
    flat = lr_schedule(50, 0.2, "constant")
    assert [flat(s) for s in range(10, 60)] == [1.0] * 50
    assert flat(0) == pytest.approx(0.1)


def test_any_warmup_fraction_warms_for_at_least_one_step():
    assert lr_schedule(5, 0.01).warmup_steps == 1


def test_pure_same_step_same_rate_in_any_order():
    """Resume replays the schedule from any step: no state may carry between calls."""
    lr_at = lr_schedule(200, 0.1)
    steps = list(range(220))
    forward = [lr_at(s) for s in steps]
    shuffled = steps[:]
    random.Random(0).shuffle(shuffled)
    again = dict(zip(shuffled, (lr_at(s) for s in shuffled)))
    assert [again[s] for s in steps] == forward
    assert lr_schedule(200, 0.1) == lr_at  # a value, rebuilt equal on resume


def test_a_later_phase_schedule_counts_from_its_own_first_step():
    phase = Phase("finetune", "train", epochs=4)
    recipe = Recipe(32, 4, 8, 1e-3, warmup_frac=0.25)
    later = phase_schedule(phase, recipe, steps_per_epoch=5, start=30)
    first = phase_schedule(phase, recipe, steps_per_epoch=5)
    assert later.total_steps == 20 and later.kind == "cosine"
    assert [later(30 + s) for s in range(25)] == [first(s) for s in range(25)]
    assert isinstance(later, LRSchedule)
