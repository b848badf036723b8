"""Layered run configuration: dataclass defaults → YAML file → CLI flags.

Every setting is checked once, where the config is built (`RunConfig.__post_init__`), against
the type and range in SETTING_RULES; `load_config` words a failure by where the value came from
(the flag or the YAML file), so a user gets one line naming what to change, never a traceback
from deep inside training. The resolved config (with the auto recipe's choices filled in) is
written into every run folder.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from transferlab.engine.strategies import STRATEGIES, Recipe
from transferlab.errors import ConfigError

# Names of the built-in demo data (data.ALIASES, not imported: that would pull in torch).
# The demo split's target is few-shot by default too; its sources train on all their images.
DEMO_DATA = ("fashion-mnist", "fashion_mnist", "fashion-mnist-target")
DEMO_PER_CLASS = 100  # the demo's few-shot budget; a user's own data trains on every image
IMAGE_SIZE_RANGE = (16, 1024)


@dataclass(frozen=True)
class Rule:
    """Type and range of one setting; `example` is the value the fix suggests."""

    kind: type
    example: object
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    high_open: bool = False  # high itself is not allowed
    choices: tuple[str, ...] = ()
    optional: bool = False  # None is allowed (not given / chosen automatically)


def _int(low, high, example, optional=True) -> Rule:
    return Rule(int, example, low, high, optional=optional)


SETTING_RULES: dict[str, Rule] = {
    "data": Rule(str, "DIR"),
    "test_data": Rule(str, "DIR", optional=True),
    "source_data": Rule(str, "fashion-mnist-source", optional=True),
    "backbone": Rule(str, "efficientnet_lite0"),
    "strategy": Rule(str, "finetune", choices=STRATEGIES),
    "strategies": Rule(list, "linear-probe,finetune,scratch", choices=STRATEGIES),
    "task": Rule(str, "classification", choices=("classification", "regression")),
    "head": Rule(str, "linear", choices=("linear", "mlp")),
    "in_chans": _int(1, 64, 1),
    "adapt_input": Rule(str, "sum", choices=("sum", "average", "repeat")),
    "per_class": _int(0, None, 20),
    "val_fraction": Rule(float, 0.1, 0, 1, high_open=True),
    "test_fraction": Rule(float, 0.2, 0, 1, low_open=True, high_open=True),
    "max_test": _int(1, None, 1000),
    "seed": _int(0, 2**32 - 1, 0, optional=False),
    "deterministic": Rule(bool, True),
    "device": Rule(str, "cpu"),
    "compile": Rule(str, "auto", choices=("auto", "on", "off")),
    "image_size": _int(*IMAGE_SIZE_RANGE, 224),
    "epochs": _int(1, 10_000, 10),
    "batch_size": _int(1, 65_536, 64),
    "lr": Rule(float, 0.001, 0, 10, low_open=True, optional=True),
    "weight_decay": Rule(float, 0.05, 0, 10, optional=True),
    "label_smoothing": Rule(float, 0.1, 0, 1, high_open=True, optional=True),
    "bn": Rule(str, "frozen", choices=("frozen", "train"), optional=True),
    "freeze_stages": _int(0, 1000, 2),
    "layer_decay": Rule(float, 0.75, 0, 1, low_open=True, optional=True),
    "patience": _int(0, 10_000, 3),
    "recipe": Rule(dict, "{}"),
    "on_bad_file": Rule(str, "skip", choices=("skip", "error")),
    "out": Rule(str, "runs"),
    "name": Rule(str, "my-run", optional=True),
    "keep_checkpoints": Rule(bool, True),
    "arch": Rule(str, "resnet18", optional=True),
    "allow_outside_paths": Rule(bool, True),
    "seeds": _int(1, 20, 3, optional=False),
    "balance": Rule(str, "auto", choices=("auto", "none", "logit-adjust", "logit-adjust-loss",
                                          "weights", "sampler")),
    "calibration": Rule(str, "auto", choices=("auto", "validation", "holdout", "crossfit", "none")),
    "lora_rank": _int(1, 1024, 8),
    "lora_alpha": Rule(float, 16.0, 0, 10_000, low_open=True, optional=True),
    "lora_targets": Rule(str, "attention", choices=("auto", "attention", "all"), optional=True),
}


class SettingError(ConfigError):
    """One setting has the wrong type or is out of range; `load_config` says where it came from."""

    def __init__(self, name: str, value: object, problem: str) -> None:
        self.name, self.value, self.problem = name, value, problem
        example = SETTING_RULES[name].example if name in SETTING_RULES else "..."
        super().__init__(f"RunConfig {name}={value!r}: {problem}; e.g. {name}={example!r}")

    def as_flag(self) -> str:
        flag = "--" + self.name.replace("_", "-")
        value = ",".join(self.value) if isinstance(self.value, list) else self.value
        fix = f"pass e.g. {flag} {SETTING_RULES[self.name].example}"
        if SETTING_RULES[self.name].optional:
            fix += " or leave the flag out"
        return f"{flag} {value}: {self.problem}; {fix}"

    def in_file(self, path: Path) -> str:
        return (f"{path}: {self.name}: {self.value!r} {self.problem}; write e.g. "
                f"{self.name}: {SETTING_RULES[self.name].example}")


def _range_text(rule: Rule) -> str:
    noun = "an integer" if rule.kind is int else "a number"
    if rule.low is not None and rule.high is not None:
        if rule.kind is int:
            return f"{noun} from {rule.low} to {rule.high}"
        low = "above" if rule.low_open else "at least"
        high = "below" if rule.high_open else "at most"
        return f"{noun} {low} {rule.low} and {high} {rule.high}"
    return f"{noun} of at least {rule.low}"


def _in_range(rule: Rule, v: float) -> bool:
    if rule.low is not None and (v < rule.low or (rule.low_open and v == rule.low)):
        return False
    return rule.high is None or not (v > rule.high or (rule.high_open and v == rule.high))


def _number(name: str, rule: Rule, value: object) -> int | float:
    if rule.kind is float and isinstance(value, str):
        try:  # YAML 1.1 reads `1e-3` (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if rule.kind is int and not isinstance(value, int):
        ok = False
    if not ok or not math.isfinite(value) or not _in_range(rule, value):
        raise SettingError(name, value, f"must be {_range_text(rule)}")
    return float(value) if rule.kind is float else value


def _choice_list(name: str, rule: Rule, value: object) -> list[str]:
    items = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
        raise SettingError(name, value, "must be a list of strategy names")
    bad = [s for s in items if s not in rule.choices]
    if bad:
        raise SettingError(name, value, f"unknown strategy {', '.join(bad)}; choose from "
                           f"{', '.join(rule.choices)}")
    return items


def check_setting(name: str, value: object) -> object:
    """The value, normalised (int → float, "a,b" → list), or SettingError saying what is wrong."""
    rule = SETTING_RULES.get(name)
    if rule is None or (value is None and rule.optional):
        return value
    if rule.kind in (int, float):
        return _number(name, rule, value)
    if rule.kind is list:
        return _choice_list(name, rule, value)
    if not isinstance(value, rule.kind):
        raise SettingError(name, value, f"must be {rule.kind.__name__.replace('str', 'text')}")
    if rule.choices and value not in rule.choices:
        raise SettingError(name, value, f"must be one of {', '.join(rule.choices)}")
    if rule.kind is str and not value.strip():
        raise SettingError(name, value, "must not be empty")
    if name == "name":
        check_run_name(value)
    if name == "recipe":
        return check_recipe(value)
    return value


class RecipeError(SettingError):
    """One `recipe:` entry is unknown or out of range; named `recipe.KEY`, never as a flag."""

    def __init__(self, key: str, value: object, problem: str, example: object = None) -> None:
        self.key, self.example = key, example
        ConfigError.__init__(self, f"RunConfig recipe.{key}={value!r}: {problem}"
                             + (f"; e.g. recipe={{{key!r}: {example!r}}}" if example else ""))
        self.name, self.value, self.problem = "recipe", value, problem

    def as_flag(self) -> str:  # there is no --recipe flag: it only comes from a YAML file
        return str(self)

    def in_file(self, path: Path) -> str:
        fix = f"; write e.g. recipe: {{{self.key}: {self.example}}}" if self.example else ""
        return f"{path}: recipe.{self.key}: {self.value!r} {self.problem}{fix}"


def check_recipe(recipe: dict) -> dict:
    """Each `recipe:` entry checked like its flag, before any data is decoded.

    recipe_overrides() merges these over the flags into the Recipe, so a value the flag would
    refuse (`image_size: 100000`) must be refused here too; a key that is no Recipe field would
    otherwise only fail after the whole decode.
    """
    valid = [f.name for f in fields(Recipe)]
    checked = {}
    for key, value in recipe.items():
        if key not in valid:
            raise RecipeError(str(key), value, "is not a recipe setting; remove it or use one "
                              "of " + ", ".join(valid))
        try:
            checked[key] = check_setting(key, value) if key in SETTING_RULES else value
        except SettingError as exc:
            raise RecipeError(key, value, exc.problem, SETTING_RULES[key].example) from None
    return checked


def check_run_name(name: str) -> None:
    """A run name is one folder inside --out: nothing a user types may write elsewhere."""
    p = Path(name)
    if (p.is_absolute() or "/" in name or "\\" in name or name in (".", "..")
            or "\0" in name or name != name.strip()):
        raise SettingError("name", name, "a run name must be one folder name inside --out "
                           "(no '/', '\\', '..' or absolute path; --out picks the parent folder)")


@dataclass
class RunConfig:
    data: str = "fashion-mnist"
    test_data: str | None = None
    source_data: str | None = None  # rank/compare: the source data, for the domain-shift figure
    backbone: str = "efficientnet_lite0"
    strategy: str = "finetune"
    strategies: list[str] = field(default_factory=lambda: ["linear-probe", "finetune", "scratch"])
    task: str = "classification"
    head: str = "linear"
    in_chans: int | None = None
    adapt_input: str = "sum"
    per_class: int | None = None  # None: all images, 100 for the demo data; 0: all
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    max_test: int | None = None
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    # torch.compile of the trained model: auto = on GPUs only; a compiler failure runs eagerly
    compile: str = "auto"
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
    keep_checkpoints: bool = False  # a finished run prunes its checkpoint folder otherwise
    arch: str | None = None  # timm architecture of a --backbone weights file without metadata
    allow_outside_paths: bool = False  # CSV rows / links may leave the data folder
    seeds: int = 1  # compare: training seeds per strategy (seed, seed+1, ...) on the same split
    # class imbalance: auto (logit-adjust above a 3:1 ratio), none, logit-adjust,
    # logit-adjust-loss, weights, sampler
    balance: str = "auto"
    # temperature scaling: auto = on the validation split, else by 3-fold cross-fitting;
    # validation = only where there is a validation split; none = T stays 1
    calibration: str = "auto"
    # --strategy lora (engine/lora.py); None = the recipe's rank 16, alpha 32, auto targets
    lora_rank: int | None = None
    lora_alpha: float | None = None
    lora_targets: str | None = None

    def __post_init__(self) -> None:
        """Check every setting once, here, so nothing downstream meets a wrong type or range."""
        for f in fields(self):
            setattr(self, f.name, check_setting(f.name, getattr(self, f.name)))
        if self.per_class is None:  # not given: the demo's budget, or all of the user's data
            self.per_class = DEMO_PER_CLASS if self.data.lower() in DEMO_DATA else 0
        if self.task == "regression" and self.balance not in ("auto", "none"):
            raise SettingError("balance", self.balance, "task regression has no classes to "
                               "balance")

    @property
    def per_class_budget(self) -> int | None:
        """Images per class to sample, or None for all of them (`per_class` 0)."""
        return self.per_class or None

    def recipe_overrides(self) -> dict:
        keys = ("image_size", "epochs", "batch_size", "lr", "weight_decay", "label_smoothing",
                "bn", "freeze_stages", "layer_decay", "patience", "lora_rank", "lora_alpha",
                "lora_targets")
        # A flag left unset (None) must not mask the same setting given in the recipe dict.
        flags = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        return {**self.recipe, **flags}

    def to_dict(self) -> dict:
        return asdict(self)


def read_config_file(path: str | Path) -> dict:
    """The settings of a YAML file; a missing file or a syntax error is one line with the place."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {p}: no such file; pass the path of a YAML settings file")
    try:
        loaded = yaml.safe_load(p.read_text()) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p} line {mark.line + 1}, column {mark.column + 1}" if mark else str(p)
        what = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{where}: YAML syntax error ({what}); fix that line "
                          "(`setting: value`, one per line, spaces not tabs)") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{p}: expected a mapping of `setting: value` lines, "
                          f"got a {type(loaded).__name__}")
    if isinstance(loaded.get("config"), dict):  # a run's own config.yaml: repeat that run
        return loaded["config"]
    return loaded


def load_config(path: str | Path | None, overrides: dict, *, named_as: str = "flag") -> RunConfig:
    """Defaults, then the YAML file, then the given values (None means "not given").

    The one builder behind the CLI (`named_as="flag"`) and the Python API (`"setting"`). A bad
    value is reported where it came from, since that is what the user has to change: the file
    line (`cfg.yaml: lr: ...`), the flag (`--lr -1: ...`) or the keyword (`RunConfig lr=-1`).
    Paths are accepted where the config wants text (data, test_data, out).
    """
    from_file = read_config_file(path) if path else {}
    given = {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()
             if v is not None}
    values = {**from_file, **given}
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(values) - known, key=str)
    if unknown:
        where = f"{path}: " if path and set(unknown) & set(from_file) else ""
        raise ConfigError(f"{where}unknown setting(s) {', '.join(map(str, unknown))}; "
                          f"valid: {', '.join(sorted(known))}")
    try:
        return RunConfig(**values)
    except SettingError as exc:
        if exc.name in given:
            if named_as == "flag":
                raise ConfigError(exc.as_flag()) from None
            raise
        if exc.name in from_file:
            raise ConfigError(exc.in_file(Path(path))) from None
        raise
