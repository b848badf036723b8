"""Exclusive-time accounting for `bench/cpu_profile.py`: where a run's wall seconds go.

Timers nest (an evaluation inside a validation epoch inside training), so each second is
charged to exactly one place: the innermost open category, in the current scope (a strategy),
or to OTHER when no timer is open. The exclusive seconds therefore sum to the wall time, and
'other' = wall - sum(instrumented) is what no timer covered. Inclusive seconds (a category with
everything under it; a category re-entered inside itself is counted once) are kept beside them,
e.g. for calibration's cross-fitting, whose nested trainings are charged to the train rows.

`instrument` wraps functions where they are looked up: `from x import f` binds `f` in the
importing module, so the name to patch is the importing module's attribute, not `x.f`.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

OTHER = "other"
SHARED = "shared"  # the scope outside every strategy: data preparation, verdict, report
_INHERITED = object()  # a patched class attribute that was inherited: restored by deleting


class Profile:
    """Exclusive and inclusive seconds per (scope, category); `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter,
                 order: list[str] | None = None) -> None:
        """`order`: categories listed first and always (a row of 0 calls says a timer never
        ran), so two profiles of the same tool line up row for row."""
        self.clock = clock
        self.order = [c for c in dict.fromkeys(order or []) if c]
        self.stack: list[str] = []
        self.scope = SHARED
        self.exclusive: dict[tuple[str, str], float] = defaultdict(float)
        self.inclusive: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.scope_wall: dict[str, float] = defaultdict(float)
        self.scopes: list[str] = [SHARED]  # in order of first appearance
        self.t0: float | None = None
        self.wall: float | None = None
        self._last = 0.0

    def start(self) -> None:
        self.t0 = self._last = self.clock()

    def stop(self) -> float:
        """Close the measurement; returns the wall seconds since `start`."""
        now = self.clock()
        self._charge(now)
        self.wall = now - self.t0
        self.scope_wall[SHARED] = self.wall - sum(
            v for k, v in self.scope_wall.items() if k != SHARED)
        return self.wall

    def _charge(self, now: float) -> None:
        """The seconds since the last event go to the innermost open category."""
        category = self.stack[-1] if self.stack else OTHER
        self.exclusive[(self.scope, category)] += now - self._last
        self._last = now

    @contextmanager
    def timed(self, category: str) -> Iterator[None]:
        start = self.clock()
        self._charge(start)
        reentered = category in self.stack
        self.stack.append(category)
        scope = self.scope
        try:
            yield
        finally:
            now = self.clock()
            self._charge(now)
            self.stack.pop()
            self.calls[(scope, category)] += 1
            if not reentered:
                self.inclusive[(scope, category)] += now - start

    @contextmanager
    def scoped(self, name: str) -> Iterator[None]:
        """Charge what runs inside to scope `name` (a strategy) instead of the current one."""
        start = self.clock()
        self._charge(start)
        outer = self.scope
        if name not in self.scopes:
            self.scopes.append(name)
        self.scope = name
        try:
            yield
        finally:
            now = self.clock()
            self._charge(now)
            self.scope = outer
            if outer == SHARED:
                self.scope_wall[name] += now - start

    def categories(self) -> list[str]:
        """`order`, then other categories seen in order of first charge, OTHER last."""
        seen = dict.fromkeys(self.order + [c for _s, c in [*self.exclusive, *self.calls]])
        seen.pop(OTHER, None)
        return [*seen, OTHER]

    def table(self) -> dict:
        """{"wall", "scopes": {scope: wall}, "rows": [...]}: exclusive seconds per scope and
        in total, % of wall, inclusive seconds and calls; the OTHER row is wall - sum(rest)."""
        if self.wall is None:
            raise RuntimeError("Profile.stop() first")
        rows = []
        for cat in self.categories():
            per = {s: self.exclusive.get((s, cat), 0.0) for s in self.scopes}
            rows.append({"category": cat, "seconds": per, "total": sum(per.values()),
                         "inclusive": sum(self.inclusive.get((s, cat), 0.0)
                                          for s in self.scopes),
                         "calls": sum(self.calls.get((s, cat), 0) for s in self.scopes)})
        measured = rows[:-1]
        other = rows[-1]
        other["total"] = self.wall - sum(r["total"] for r in measured)
        for s in self.scopes:  # per scope, likewise what no timer covered in that scope
            other["seconds"][s] = self.scope_wall[s] - sum(r["seconds"][s] for r in measured)
        other["inclusive"] = None
        for r in rows:
            r["percent"] = 100.0 * r["total"] / self.wall if self.wall > 0 else 0.0
        return {"wall": self.wall, "scopes": {s: self.scope_wall[s] for s in self.scopes},
                "rows": rows}


@dataclass(frozen=True)
class Target:
    """Wrap `module.attr` (attr may be `Class.method`) in a timer for `category`; with
    `scope_arg`, the call instead runs in the scope named by that positional argument."""

    module: str
    attr: str
    category: str
    scope_arg: int | None = None


def _owner(target: Target) -> tuple[object, str]:
    obj = importlib.import_module(target.module)
    *path, name = target.attr.split(".")
    for part in path:
        obj = getattr(obj, part)
    return obj, name


def _wrap(profile: Profile, target: Target, fn: Callable) -> Callable:
    if target.scope_arg is not None:
        index = target.scope_arg

        @functools.wraps(fn)
        def scoped(*args, **kwargs):
            with profile.scoped(str(args[index])):
                return fn(*args, **kwargs)
        return scoped

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        with profile.timed(target.category):
            return fn(*args, **kwargs)
    return timed


@contextmanager
def instrument(profile: Profile, targets: list[Target]) -> Iterator[list[str]]:
    """Patch every target for the duration; yields the targets that could not be found
    (renamed by a refactor), so the caller can say so instead of silently timing less."""
    undo: list[tuple[object, str, object]] = []
    missing: list[str] = []
    try:
        for t in targets:
            try:
                owner, name = _owner(t)
                fn = getattr(owner, name)
            except (ImportError, AttributeError):
                missing.append(f"{t.module}.{t.attr}")
                continue
            # a class's own entry (a plain function), not the bound or inherited lookup
            undo.append((owner, name, vars(owner).get(name, _INHERITED)))
            setattr(owner, name, _wrap(profile, t, fn))
        yield missing
    finally:
        for owner, name, original in reversed(undo):
            if original is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
