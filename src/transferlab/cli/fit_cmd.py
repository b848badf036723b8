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
from transferlab.strategies import STRATEGIES

HELP = "transfer a pretrained backbone to your data with one strategy and save the model"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help=HELP, description=HELP + ". The run folder holds "
                       "model.safetensors, config.yaml (resolved), metrics.json, history.jsonl "
                       "and a checkpoint to --resume from. Under torchrun it trains data-"
                       "parallel on every process (docs/DISTRIBUTED.md).")
    p.add_argument("--strategy", choices=STRATEGIES, help="default finetune")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted fit from its "
                   "latest checkpoint (same flags as the first run)")
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
    from transferlab.config import write_yaml
    from transferlab.report import write_report_safely
    from transferlab.runner import new_run_dir, prepare_data, run_strategy

    say = dist.main_only(print)
    if args.resume:
        run_dir = Path(args.resume)
        cfg = dist.main_then_broadcast(lambda: saved_config(run_dir))
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


def saved_config(run_dir: Path):
    """The config a run started with, so --resume needs no flags repeated."""
    import yaml

    from transferlab.config import RunConfig
    from transferlab.errors import CheckpointError

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a fit run folder (no config.yaml)")
    data = yaml.safe_load(path.read_text()) or {}
    return RunConfig(**data.get("config", data))
