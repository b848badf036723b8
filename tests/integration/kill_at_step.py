"""Test-only entry point: the CLI, with a step hook that SIGKILLs the process after one step.

    python tests/integration/kill_at_step.py STEP fit --data ... (any `transferlab` arguments)

The kill-and-resume test needs a real SIGKILL in the middle of an epoch, in a separate process.
Production code reads no fault switch: this wrapper gives every Trainer the CLI builds a hook
through the Trainer's `step_hooks`, then runs the CLI's own `main`.
"""

from __future__ import annotations

import functools
import os
import signal
import sys

from transferlab.cli import main
from transferlab.engine.loop import StepContext
from transferlab.engine.trainer import Trainer


def kill_after(step: int):
    """A step hook: SIGKILL this process once `step` optimizer steps have run."""

    def hook(ctx: StepContext) -> None:
        if ctx.global_step == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def install(step: int) -> None:
    """Every Trainer built from now on gets the hook."""
    init = Trainer.__init__

    @functools.wraps(init)
    def init_with_hook(self: Trainer, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        self.step_hooks.append(kill_after(step))

    Trainer.__init__ = init_with_hook


if __name__ == "__main__":
    install(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
