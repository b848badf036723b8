"""Layered run configuration: dataclass defaults → YAML file → CLI flags.

The resolved config (with the auto recipe's choices filled in) is written into every run folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from transferlab.errors import ConfigError


@dataclass
class RunConfig:
    data: str = "fashion-mnist"
    test_data: str | None = None
    backbone: str = "efficientnet_lite0"
    strategy: str = "finetune"
    strategies: list[str] = field(default_factory=lambda: ["linear-probe", "finetune", "scratch"])
    task: str = "classification"
    head: str = "linear"
    in_chans: int | None = None
    adapt_input: str = "sum"
    per_class: int | None = 100
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    max_test: int | None = None
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    # recipe overrides; None = chosen by the auto recipe
    image_size: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    label_smoothing: float | None = None
    bn: str | None = None
    freeze_stages: int | None = None
    layer_decay: float | None = None
    patience: int | None = None
    recipe: dict = field(default_factory=dict)  # any other Recipe field, from a YAML file
    on_bad_file: str = "skip"
    out: str = "runs"
    name: str | None = None

    def recipe_overrides(self) -> dict:
        keys = ("image_size", "epochs", "batch_size", "lr", "weight_decay", "label_smoothing",
                "bn", "freeze_stages", "layer_decay", "patience")
        # A flag left unset (None) must not mask the same setting given in the recipe dict.
        flags = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        return {**self.recipe, **flags}

    def to_dict(self) -> dict:
        return asdict(self)


def load_config(path: str | Path | None, overrides: dict) -> RunConfig:
    """Defaults, then the YAML file, then explicit flags (None means "not given")."""
    values: dict = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        loaded = yaml.safe_load(p.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping of setting: value")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown}; valid: {sorted(known)}")
    return RunConfig(**values)


def write_yaml(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
