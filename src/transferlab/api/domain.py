"""`--source-data` on `rank` and `compare`: how far the target is from the source.

The source data is loaded as `fit` would load it (same decode rule, stored at the target's
size), a seeded subset of each domain goes through one backbone, and the proxy A-distance and
MMD² of `selection.domain` are printed and saved as RUN/domain_shift.json.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from transferlab.config import RunConfig
from transferlab.data import DataSplits, ImageSet, load_dataset
from transferlab.errors import ConfigError
from transferlab.results.runfolder import RunFolder, write_json

DOMAIN_SHIFT = "domain_shift.json"


def load_source(cfg: RunConfig, target: ImageSet) -> ImageSet:
    """The source's training images, stored at the target's size (features compare like with
    like)."""
    from transferlab.api.runner import decode_size_limit
    from transferlab.engine.device import resolve_device

    limit = decode_size_limit(resolve_device(cfg.device))
    size = cfg.image_size or target.source_size
    data = load_dataset(cfg.source_data, "train", size, cfg.on_bad_file, "classification",
                        limit, cfg.allow_outside_paths)
    if not isinstance(data, ImageSet):
        raise ConfigError(f"--source-data {cfg.source_data}: the domain shift figure is for "
                          "image data; pass an image folder, CSV or IDX folder")
    return data


def source_shift(cfg: RunConfig, splits: DataSplits, backbone: str, run_dir: Path,
                 log: Callable[[str], object] = print) -> dict | None:
    """PAD and MMD² between cfg.source_data and the target's training images on `backbone`'s
    features; None without --source-data. Printed as one line and saved in the run folder."""
    if not cfg.source_data:
        return None
    from transferlab.selection.domain import measure_domain_shift, shift_line

    if not isinstance(splits.train, ImageSet):
        raise ConfigError("--source-data: the domain shift figure is for image data")
    source = load_source(cfg, splits.train)
    shift = measure_domain_shift(source, splits.train, backbone, cfg.device, cfg.image_size,
                                 cfg.seed, log=log)
    log(shift_line(shift))
    write_json(RunFolder(run_dir).file(DOMAIN_SHIFT), shift)
    return shift


def shift_backbone(candidates: list[str]) -> str:
    """The backbone `rank` measures the shift with: the first pretrained candidate (random
    features say little about the inputs), else the first."""
    from transferlab.selection.ranking import parse_candidate

    return next((c for c in candidates if parse_candidate(c)[1]), candidates[0])
