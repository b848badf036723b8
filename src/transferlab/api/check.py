"""`check`: data health before training (duplicates, train↔test leakage, classes, bad files).

The data is read exactly as `fit` reads it (`load_dataset`, the decode cache), so a check before
a fit decodes nothing twice; the same check runs inside every fit/compare on the splits it
trains and tests on (`data.health.check_splits`) and lands in data.json under "health".
"""

from __future__ import annotations

from pathlib import Path

from transferlab.config import RunConfig, load_config
from transferlab.data.health import HealthReport, check_sets
from transferlab.data.nearcopy import MIN_SIMILARITY
from transferlab.errors import ConfigError


def check(data: str | Path | None = None, test_data: str | Path | None = None, *,
          min_similarity: float = MIN_SIMILARITY, **settings) -> HealthReport:
    """Check `data` (and its test split, or `test_data`) before training on it.

    Settings are RunConfig's data fields (image_size, on_bad_file, task,
    allow_outside_paths): they choose the decode, as for `fit`. The report's `.table()` is
    what `transferlab check` prints; `.to_dict()` what its --json file holds. Near-copies are
    pairs whose best shifted correlation reaches `min_similarity` (data/nearcopy.py).
    """
    validate(min_similarity)
    cfg = load_config(None, {"data": None if data is None else str(data),
                             "test_data": None if test_data is None else str(test_data),
                             **settings}, named_as="setting")
    return check_config(cfg, min_similarity)


def validate(min_similarity: float) -> None:
    if isinstance(min_similarity, bool) or not isinstance(min_similarity, (int, float)) or not (
            0.0 < min_similarity <= 1.0):
        raise ConfigError(f"min_similarity {min_similarity!r} (--min-similarity): a "
                          f"correlation above 0 and at most 1; e.g. {MIN_SIMILARITY}")


def check_config(cfg: RunConfig, min_similarity: float = MIN_SIMILARITY) -> HealthReport:
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
    return check_sets(train, test, min_similarity=min_similarity)
