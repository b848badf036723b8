"""Which layers transfer: Yosinski et al.'s (2014) AnB / AnB+ experiment on your data.

For k = 0 ... all stage groups of the backbone: take the architecture with a fresh random init
(exactly what `scratch` starts from), copy the first k stage groups (parameters and buffers)
from the pretrained backbone, and train on the target data twice with the Trainer:

- AnB ("frozen"): the k copied groups stay frozen (their BatchNorm in eval mode); the
  re-initialised rest and the new head train;
- AnB+ ("fine-tuned"): everything trains.

If frozen accuracy falls as k grows, the later layers are too specific to the source to be
used as they are; the gap to fine-tuned shows what adapting them buys back. k = 0 copies
nothing, so both variants are the same run (random init), trained once.
Each point is the mean over `--seeds` training seeds on one split, with a t-interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from transferlab.backbones import Backbone
from transferlab.config import RunConfig
from transferlab.data import DataSplits
from transferlab.engine.strategies import Phase, Recipe
from transferlab.errors import ConfigError
from transferlab.model import TransferModel, build_model
from transferlab.results.runfolder import RunFolder, write_json
from transferlab.results.stats import seed_interval

LAYERS_JSON = "layers.json"
UNIT = (0.0, 1.0)  # accuracy's range: seed intervals are clipped to it
LAYERS_PNG = "layers.png"
Log = Callable[[str], object]


@dataclass
class LayersResult:
    """What `transferlab layers` measured: one row per k, with seed intervals."""

    backbone: str
    groups: list[str]
    rows: list[dict]
    run_dir: Path
    seeds: list[int]
    seconds: float = 0.0
    recipe: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"backbone": self.backbone, "groups": self.groups, "rows": self.rows,
                "seeds": self.seeds, "seconds": round(self.seconds, 1), "recipe": self.recipe,
                "method": ("AnB = first k stage groups copied and frozen, the rest "
                           "re-initialised and trained; AnB+ = the same, all fine-tuned; "
                           "test accuracy, mean ± t-interval across training seeds")}

    def table(self) -> str:
        return format_layers(self.to_dict())


def format_layers(data: dict) -> str:
    """`k  last copied group  frozen (AnB) ± CI  fine-tuned (AnB+) ± CI` per k."""
    lines = [f"{'k':>3}  {'copied up to':<14}{'frozen (AnB)':>34}{'fine-tuned (AnB+)':>34}"]
    for r in data["rows"]:
        last = data["groups"][r["k"] - 1] if r["k"] else "-"
        lines.append(f"{r['k']:>3}  {last:<14}{_cell(r['frozen']):>34}"
                     f"{_cell(r['finetuned']):>34}")
    n = len(data["seeds"])
    lines.append(f"test accuracy, mean over {n} seed(s)"
                 + (" ± sd [95% t-interval]" if n > 1 else ""))
    return "\n".join(lines)


def _cell(s: dict) -> str:
    if s.get("mean") is None:
        return "-"
    if s.get("sd") is None:
        return f"{s['mean']:.4f}"
    lo, hi = s["ci95"]
    return f"{s['mean']:.4f} ± {s['sd']:.4f} [{lo:.3f}, {hi:.3f}]"


def copy_stages(source: Backbone, target: Backbone, k: int) -> int:
    """Copy the first `k` stage groups' parameters and buffers from `source` into `target`
    (same architecture); k = all groups copies the whole backbone, tensors outside any group
    included, as freezing treats them. Returns the number of tensors copied."""
    src, dst = source.stage_groups(), target.stage_groups()
    if [g.name for g in src] != [g.name for g in dst]:
        raise ConfigError("copy_stages: source and target backbones have different stage "
                          f"groups ({[g.name for g in src]} vs {[g.name for g in dst]})")
    if not 0 <= k <= len(src):
        raise ConfigError(f"k={k}: the backbone has {len(src)} stage groups "
                          f"({', '.join(g.name for g in src)}); choose 0 to {len(src)}")
    if k == len(src):
        state = source.state_dict()
        target.load_state_dict(state)
        return len(state)
    copied = 0
    for gs, gt in zip(src[:k], dst[:k], strict=True):
        for ms, mt in zip(gs.modules, gt.modules, strict=True):
            state = ms.state_dict()
            mt.load_state_dict(state)
            copied += len(state)
    return copied


def transplant(cfg: RunConfig, classes: list[str], source: Backbone, k: int, seed: int
               ) -> TransferModel:
    """The architecture with the seed's random init (as `scratch` builds it), its first k
    stage groups replaced by `source`'s. Inputs are prepared as for the source (its mean/std);
    the spec says not pretrained, so no frozen-feature cache is ever keyed by it."""
    torch.manual_seed(seed)
    model = build_model(cfg.backbone, classes, pretrained=False, head=cfg.head,
                        in_chans=cfg.in_chans, adapt=cfg.adapt_input, arch=cfg.arch)
    copy_stages(source, model.backbone, k)
    model.backbone.spec = replace(source.spec, pretrained=False)
    model.info.spec = model.backbone.spec
    return model


def layer_phase(recipe: Recipe, k: int, frozen: bool) -> Phase:
    """One train phase: the first k groups frozen (AnB) or nothing frozen (AnB+). BN trains
    outside the frozen groups (re-initialised BN has no statistics to keep), and the backbone
    trains at the head's LR: most of it may be random weights."""
    name = f"AnB k={k}" if frozen else f"AnB+ k={k}"
    return Phase(name, "train", recipe.epochs, k if frozen else 0, recipe.lr, 1.0, None, "train")


def train_variant(cfg: RunConfig, splits: DataSplits, source: Backbone, k: int, frozen: bool,
                  seed: int, device: torch.device) -> tuple[float, Recipe]:
    """Test accuracy of one (k, variant, seed) trained by the Trainer."""
    from transferlab.engine.loop import metrics_from_logits, predict_logits
    from transferlab.engine.recipe import auto_recipe
    from transferlab.engine.trainer import Trainer

    model = transplant(cfg, splits.train.classes, source, k, seed)
    recipe = auto_recipe(len(splits.train), model.spec, splits.train.source_size, device,
                         cfg.recipe_overrides())
    model.info.image_size = recipe.image_size
    trainer = Trainer(model, splits, recipe, [layer_phase(recipe, k, frozen)], device, seed,
                      log=lambda *_: None, compile_mode=cfg.compile)
    trainer.run()
    logits = predict_logits(model, splits.test, trainer.pre, device, desc=f"test k={k}")
    return float(metrics_from_logits(logits, splits.test)["accuracy"]), recipe


def resolve_ks(ks: Sequence[int] | None, groups: int) -> list[int]:
    """The k values to measure (default 0 ... groups), checked and sorted."""
    chosen = sorted(set(range(groups + 1) if ks is None else ks))
    bad = [k for k in chosen if not 0 <= k <= groups]
    if bad or not chosen:
        raise ConfigError(f"--ks {bad or 'empty'}: the backbone has {groups} stage groups; "
                          f"choose values from 0 to {groups}")
    return chosen


def layers(cfg: RunConfig, ks: Sequence[int] | None = None, log: Log = print) -> LayersResult:
    """Run the AnB / AnB+ sweep; writes RUN/layers.json, layers.png and report.html."""
    from transferlab.api.runner import new_run_dir, prepare_data
    from transferlab.engine.device import resolve_device

    t0 = time.perf_counter()
    if cfg.task == "regression":
        raise ConfigError("layers measures classification accuracy; --task regression is not "
                          "supported")
    # The pretrained backbone, adapted to the input channels as build_model does (its head,
    # sized by a placeholder class list, is dropped): checked before any folder or decode.
    source = build_model(cfg.backbone, ["-"], pretrained=True, in_chans=cfg.in_chans,
                         adapt=cfg.adapt_input, arch=cfg.arch).backbone
    groups = [g.name for g in source.stage_groups()]
    chosen = resolve_ks(ks, len(groups))
    run_dir = new_run_dir(cfg, "layers")
    log(f"run folder: {run_dir}")
    splits = prepare_data(cfg, log)
    device = resolve_device(cfg.device)
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    log(f"stage groups of {cfg.backbone}: {', '.join(groups)}; k = {chosen}, seeds {seeds}")
    RunFolder(run_dir).write_config(cfg.to_dict(), layers={"ks": chosen, "seeds": seeds})
    rows, recipe = [], None
    for k in chosen:
        frozen, tuned = [], []
        for seed in seeds:
            acc, recipe = train_variant(cfg, splits, source, k, False, seed, device)
            tuned.append(acc)
            frozen.append(acc if k == 0 else
                          train_variant(cfg, splits, source, k, True, seed, device)[0])
            log(f"k={k} seed {seed}: frozen {frozen[-1]:.4f}, fine-tuned {tuned[-1]:.4f}")
        rows.append({"k": k, "frozen": seed_interval(frozen, bounds=UNIT),
                     "finetuned": seed_interval(tuned, bounds=UNIT)})
    result = LayersResult(cfg.backbone, groups, rows, run_dir, seeds,
                          time.perf_counter() - t0, recipe.to_dict() if recipe else {})
    save_layers(result, log)
    return result


def save_layers(result: LayersResult, log: Log = print) -> None:
    """layers.json, then the plot and a small report.html (a plotting failure only warns)."""
    data = result.to_dict()
    write_json(RunFolder(result.run_dir).file(LAYERS_JSON), data)
    try:
        from transferlab.results.report.layers_section import write_layers_report

        write_layers_report(result.run_dir, data)
    except Exception as exc:  # noqa: BLE001 - the measurement is saved; the picture is extra
        log(f"warning: layers plot/report not written: {exc}")
