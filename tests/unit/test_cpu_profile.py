"""bench/cpu_profile.py's accounting: nested timers charge each second once (exclusive), the
'other' row is wall - sum, scopes split the same seconds per strategy, and patching a name
where it is looked up times the call and is undone afterwards. A fake clock, no training."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from tests.conftest import BENCH, load_script


def _load(name: str):
    return load_script(BENCH / f"{name}.py")


@pytest.fixture(scope="module")
def prof():
    return _load("profiling")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def row(table: dict, category: str) -> dict:
    return next(r for r in table["rows"] if r["category"] == category)


def test_nested_timers_charge_each_second_once(prof) -> None:
    clock = FakeClock()
    p = prof.Profile(clock)
    p.start()
    clock.sleep(1)  # untimed: other
    with p.timed("train"):
        clock.sleep(2)
        with p.timed("validation"):
            clock.sleep(3)
            with p.timed("predict"):
                clock.sleep(4)
        clock.sleep(5)
    clock.sleep(0.5)
    assert p.stop() == 15.5
    t = p.table()
    assert row(t, "train")["total"] == 7 and row(t, "train")["inclusive"] == 14
    assert row(t, "validation")["total"] == 3 and row(t, "validation")["inclusive"] == 7
    assert row(t, "predict")["total"] == 4
    assert row(t, "other")["total"] == 1.5  # wall - sum of the timed rows
    assert sum(r["total"] for r in t["rows"]) == pytest.approx(t["wall"])
    assert row(t, "train")["percent"] == pytest.approx(100 * 7 / 15.5)


def test_a_category_reentered_inside_itself_is_counted_once(prof) -> None:
    clock = FakeClock()
    p = prof.Profile(clock)
    p.start()
    with p.timed("features"):  # e.g. extract_features around compute_features
        clock.sleep(1)
        with p.timed("features"):
            clock.sleep(2)
    p.stop()
    r = row(p.table(), "features")
    assert (r["total"], r["inclusive"], r["calls"]) == (3, 3, 2)


def test_scopes_split_seconds_per_strategy_and_sum_to_the_wall(prof) -> None:
    clock = FakeClock()
    p = prof.Profile(clock, order=["data", "train", "never called"])
    p.start()
    with p.timed("data"):
        clock.sleep(2)
    for name, seconds in (("probe", 1), ("finetune", 3), ("probe", 1)):
        with p.scoped(name):
            clock.sleep(0.25)  # untimed inside the strategy: its own 'other'
            with p.timed("train"):
                clock.sleep(seconds)
    clock.sleep(1)
    p.stop()
    t = p.table()
    assert t["scopes"] == {"shared": 3, "probe": 2.5, "finetune": 3.25}
    assert row(t, "train")["seconds"] == {"shared": 0, "probe": 2, "finetune": 3}
    assert row(t, "other")["seconds"] == {"shared": 1, "probe": 0.5, "finetune": 0.25}
    assert [r["category"] for r in t["rows"]] == ["data", "train", "never called", "other"]
    assert row(t, "never called")["calls"] == 0
    for s, wall in t["scopes"].items():
        assert sum(r["seconds"][s] for r in t["rows"]) == pytest.approx(wall)


def test_instrument_patches_the_importing_modules_name_and_restores_it(prof) -> None:
    clock = FakeClock()
    lib = types.ModuleType("fake_lib")
    user = types.ModuleType("fake_user")

    def work(n):
        clock.sleep(n)
        return n

    class Runner:
        def go(self, strategy, n):
            return user.work(n)

    lib.work = user.work = work  # `from fake_lib import work` in fake_user
    user.Runner = Runner
    sys.modules.update(fake_lib=lib, fake_user=user)
    p = prof.Profile(clock)
    targets = [prof.Target("fake_user", "work", "work"),
               prof.Target("fake_user", "Runner.go", "", scope_arg=1),
               prof.Target("fake_user", "gone", "renamed")]
    try:
        with prof.instrument(p, targets) as missing:
            p.start()
            assert Runner().go("finetune", 2) == 2
            lib.work(5)  # the defining module's name was not patched: untimed
            p.stop()
    finally:
        del sys.modules["fake_lib"], sys.modules["fake_user"]
    assert missing == ["fake_user.gone"]
    t = p.table()
    assert row(t, "work")["seconds"]["finetune"] == 2 and row(t, "other")["total"] == 5
    assert user.work is work and "go" in vars(Runner) and Runner.go.__name__ == "go"
    assert not hasattr(Runner.go, "__wrapped__")


def test_cpu_profile_quick_flags_fill_only_what_was_not_given() -> None:
    cpu = _load("cpu_profile")
    args = cpu.parse_args(["--quick", "--per-class", "50"])
    assert (args.per_class, args.image_size, args.epochs) == (50, 64, 2)
    kw = cpu.settings(cpu.parse_args([]), Path("/tmp/x"))
    assert "per_class" not in kw and kw["seed"] == 0 and kw["device"] == "cpu"
