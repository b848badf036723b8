"""`transferlab fit`: one strategy, one model, saved in a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transferlab.cli.common import (
    add_data_args,
    add_model_args,
    add_recipe_args,
    add_run_args,
    config_from_args,
)
from transferlab.engine.strategies import STRATEGIES

HELP = "transfer a pretrained backbone to your data with one strategy and save the model"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help=HELP, description=HELP + ". The run folder holds "
                       "model.safetensors, config.yaml (resolved), metrics.json, history.jsonl "
                       "and a checkpoint to --resume from. Under torchrun it trains data-"
                       "parallel on every process (docs/DISTRIBUTED.md).")
    p.add_argument("--strategy", metavar="NAME", help=f"one of {', '.join(STRATEGIES)} "
                   "(default finetune)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted fit from its "
                   "latest checkpoint with its saved config.yaml; training flags are refused "
                   "unless they repeat the saved values (--device and --keep-checkpoints may "
                   "change)")
    add_data_args(p)
    add_model_args(p)
    p.add_argument("--candidates", metavar="A,B,C", help="with --backbone auto: backbones to "
                   "rank on the training split first (`transferlab rank`); the best is fitted "
                   "(default: every installed bundled backbone)")
    add_recipe_args(p)
    add_run_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Single process, or one rank of a torchrun job (the process group lives for the fit)."""
    from transferlab.engine import distributed as dist

    dist.init_from_env()
    try:
        return _fit(args, dist)
    finally:
        dist.cleanup()


def _fit(args: argparse.Namespace, dist) -> int:
    from transferlab.api.runner import new_run_dir, prepare_data, run_strategy
    from transferlab.config import write_yaml
    from transferlab.results.report import write_report_safely

    say = dist.main_only(print)
    if args.resume:
        run_dir = Path(args.resume)
        cfg = dist.main_then_broadcast(lambda: resume_config(run_dir, args))
    else:
        cfg = config_from_args(args)
        # Rank 0 picks the folder name (date-time, -N suffix) and every rank uses it.
        run_dir = Path(dist.main_then_broadcast(lambda: str(new_run_dir(cfg, "fit"))))
        if dist.is_main():
            write_yaml(run_dir / "config.yaml", {"config": cfg.to_dict()})
    say(f"run folder: {run_dir}")
    splits = prepare_data(cfg, log=say)
    if cfg.backbone == "auto":
        from transferlab.rank import choose_backbone

        candidates = [c.strip() for c in (args.candidates or "").split(",") if c.strip()]
        cfg.backbone = dist.main_then_broadcast(
            lambda: choose_backbone(cfg, splits, candidates, run_dir))
    result = run_strategy(cfg, cfg.strategy, splits, run_dir, resume=bool(args.resume))
    if not dist.is_main():
        return 0
    m = result.metrics
    summary = {k: round(v, 4) for k, v in m.items() if isinstance(v, float)}
    print(json.dumps({"strategy": cfg.strategy, "test": summary,
                      "wall_seconds": round(result.wall_seconds, 1)}))
    print(f"model: {run_dir / 'model.safetensors'}")
    write_report_safely(run_dir)  # plots + report.html; a failure only warns
    return 0


RESUME_MAY_CHANGE = ("device", "keep_checkpoints")  # where it runs, what it keeps: not training
NOT_SETTINGS = ("resume", "config")


def saved_config(run_dir: Path):
    """The config a run started with, so --resume needs no flags repeated.

    Checked up front, before any data is decoded: the folder must be a fit run folder whose
    checkpoint pointer stays inside it.
    """
    from transferlab.config import RunConfig
    from transferlab.engine.checkpoint import checked_pointer
    from transferlab.errors import CheckpointError, ConfigError

    data = _read_run_yaml(run_dir)
    try:
        cfg = RunConfig(**data.get("config", data))
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{run_dir / 'config.yaml'} is not a config this version can "
                              f"resume ({exc}); start a new fit") from None
    _check_no_links(run_dir)
    if checked_pointer(run_dir / "checkpoint") is None:
        done = (run_dir / "model.safetensors").is_file()
        raise CheckpointError(
            f"--resume {run_dir}: " + ("the run finished (model.safetensors saved) and its "
                                       "checkpoints were pruned; nothing to resume, start a "
                                       "new fit" if done else "no checkpoint/LATEST to resume "
                                       "from; start the run anew without --resume"))
    return cfg


def _read_run_yaml(run_dir: Path) -> dict:
    import yaml

    from transferlab.errors import CheckpointError

    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise CheckpointError(f"--resume {run_dir}: no such folder; pass the run folder an "
                              "interrupted fit printed as `run folder: ...`")
    if not path.is_file():
        raise CheckpointError(f"--resume {run_dir}: not a fit run folder (no config.yaml); pass "
                              "the folder an interrupted fit printed as `run folder: ...`")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a readable run config; restore it from the run "
                              "or start a new fit")
    return data


def _check_no_links(run_dir: Path) -> None:
    """A run folder holds its own files: a symbolic link would make resume write elsewhere."""
    from transferlab.errors import CheckpointError

    links = sorted(p.name for p in run_dir.iterdir() if p.is_symlink())
    if links:
        raise CheckpointError(f"--resume {run_dir}: {', '.join(links)} is a symbolic link; "
                              "a run folder holds only its own files: replace the link")


def resume_config(run_dir: Path, args: argparse.Namespace):
    """The saved config; flags (and --config values) must repeat it, bar RESUME_MAY_CHANGE."""
    from transferlab.config import read_config_file

    cfg = saved_config(run_dir)
    given = read_config_file(args.config) if getattr(args, "config", None) else {}
    given.update({k: v for k, v in vars(args).items() if v is not None and hasattr(cfg, k)
                  and k not in NOT_SETTINGS})
    conflicts = [_conflict(run_dir, cfg, k, v) for k, v in given.items()
                 if k not in RESUME_MAY_CHANGE]
    conflicts = [c for c in conflicts if c]
    if conflicts:
        from transferlab.errors import ConfigError

        raise ConfigError("; ".join(conflicts) + "; resume takes no training flags (or repeat "
                          "the same values)")
    for k in RESUME_MAY_CHANGE:
        if given.get(k) is not None:
            setattr(cfg, k, given[k])
    return cfg


def _conflict(run_dir: Path, cfg, name: str, value) -> str | None:
    from transferlab.config import SettingError, check_setting
    from transferlab.errors import ConfigError

    try:
        value = check_setting(name, value)
    except SettingError as exc:
        raise ConfigError(exc.as_flag()) from None
    saved = getattr(cfg, name)
    if value == saved:
        return None
    flag = "--" + name.replace("_", "-")
    shown = ",".join(value) if isinstance(value, list) else value
    old = "unset (chosen automatically)" if saved is None else saved
    return f"{flag} {shown} conflicts with the saved {name} {old} of {run_dir / 'config.yaml'}"
