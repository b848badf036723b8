"""`check`: data health before training (duplicates, train↔test leakage, classes, bad files).

The data is read exactly as `fit` reads it (`load_dataset`, the decode cache), so a check before
a fit decodes nothing twice; the same check runs inside every fit/compare on the splits it
trains and tests on (`data.health.check_splits`) and lands in data.json under "health".
"""

from __future__ import annotations

from pathlib import Path

from transferlab.config import RunConfig, load_config
from transferlab.data.health import (
    DEFAULT_METHOD,
    DEFAULT_THRESHOLD,
    HealthReport,
    check_sets,
)
from transferlab.data.phash import HASH_BITS, METHODS
from transferlab.errors import ConfigError


def check(data: str | Path | None = None, test_data: str | Path | None = None, *,
          threshold: int = DEFAULT_THRESHOLD, method: str = DEFAULT_METHOD,
          **settings) -> HealthReport:
    """Check `data` (and its test split, or `test_data`) before training on it.

    Settings are RunConfig's data fields (image_size, on_bad_file, task,
    allow_outside_paths): they choose the decode, as for `fit`. The report's `.table()` is
    what `transferlab check` prints; `.to_dict()` what its --json file holds.
    """
    validate(threshold, method)
    cfg = load_config(None, {"data": None if data is None else str(data),
                             "test_data": None if test_data is None else str(test_data),
                             **settings}, named_as="setting")
    return check_config(cfg, threshold, method)


def validate(threshold: int, method: str) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not (
            0 <= threshold < HASH_BITS):
        raise ConfigError(f"threshold {threshold!r} (--threshold): a Hamming distance from 0 "
                          f"to {HASH_BITS - 1}; e.g. {DEFAULT_THRESHOLD}")
    if method not in METHODS:
        raise ConfigError(f"hash {method!r} (--hash): choose one of {', '.join(METHODS)}")


def check_config(cfg: RunConfig, threshold: int = DEFAULT_THRESHOLD,
                 method: str = DEFAULT_METHOD) -> HealthReport:
    """`check` for a built config: the whole train source against the test source."""
    from transferlab.api.runner import decode_size_limit
    from transferlab.data import ImageSet, load_dataset
    from transferlab.engine.device import resolve_device

    size = cfg.recipe_overrides().get("image_size")
    limit = decode_size_limit(resolve_device(cfg.device))

    def load(source: str, split: str, size: int | None):
        return load_dataset(source, split, size, cfg.on_bad_file, cfg.task, limit,
                            cfg.allow_outside_paths)

    train = load(cfg.data, "train", size)
    size = train.source_size if isinstance(train, ImageSet) else size
    test = load(cfg.test_data, "train", size) if cfg.test_data else load(cfg.data, "test", size)
    return check_sets(train, test, method=method, threshold=threshold)
