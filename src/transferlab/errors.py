"""Typed errors: each names the problem, the valid choices and the fix.

The CLI prints these without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TransferlabError(Exception):
    """Base for every error a user can cause and fix."""


class ConfigError(TransferlabError):
    """A setting or flag is invalid or conflicts with another."""


class DataError(TransferlabError):
    """The dataset cannot be read or is unusable (no classes, no images, bad labels)."""


class WeightsError(TransferlabError):
    """Pretrained weights are missing, corrupt, untrusted or do not fit the architecture."""


class CheckpointError(TransferlabError):
    """A checkpoint cannot be resumed or loaded into this model."""


class TrainingError(TransferlabError):
    """Training cannot go on (non-finite loss, nothing trainable)."""


class Interrupted(TransferlabError):
    """SIGTERM/SIGINT arrived; a checkpoint was written before this was raised."""
