"""The training workflows: fit, compare, rank. The CLI parses flags and calls these.

Each public function takes settings as keywords (the RunConfig fields), checks them in one
place (RunConfig: a bad value is a ConfigError naming the setting) and returns an object from
`api.objects`. The `*_config` variants take a RunConfig already built, which is how the CLI
calls them: it words a bad flag as the flag (`--lr -1: ...`) before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transferlab.api.objects import Comparison, Ranking, Run
from transferlab.config import RunConfig, load_config
from transferlab.errors import ConfigError
from transferlab.results.runfolder import RunFolder

Log = Callable[[str], object]


def _quiet(_line: str) -> None:
    """log=None: say nothing."""


def make_config(config: str | Path | None = None, **settings: Any) -> RunConfig:
    """A RunConfig from keyword settings over an optional YAML file (None = not given).

    config.load_config builds it, as for the CLI, but a bad keyword is named as the setting
    (`RunConfig lr=-1.0: ...`, a SettingError) rather than as a flag the caller never typed.
    """
    return load_config(config, settings, named_as="setting")


def names(value: str | Sequence[str] | None) -> list[str]:
    """"a, b" or ["a", "b"] → ["a", "b"] (None → [])."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [s.strip() for s in items if s.strip()]


def fit(data: str | Path | None = None, strategy: str | None = None,
        backbone: str | None = None, *, resume: str | Path | None = None,
        candidates: str | Sequence[str] | None = None, log: Log | None = print,
        **settings: Any) -> Run:
    """Transfer `backbone` to `data` with one strategy; the model is saved in a new run folder.

    Defaults are RunConfig's: Fashion-MNIST, strategy "finetune", backbone "efficientnet_lite0";
    backbone="auto" ranks `candidates` first and fits the best. `resume=RUN_DIR` continues an
    interrupted fit with its saved config (settings given must repeat the saved ones, bar
    device and keep_checkpoints). `log` receives the progress lines (None: silent).
    """
    given = {"data": data, "strategy": strategy, "backbone": backbone, **settings}
    if resume is not None:
        return fit_config(None, resume=resume, given=given, candidates=candidates, log=log)
    return fit_config(make_config(**given), candidates=candidates, log=log)


def fit_config(cfg: RunConfig | None, *, resume: str | Path | None = None,
               given: dict | None = None, candidates: str | Sequence[str] | None = None,
               log: Log | None = print) -> Run:
    """`fit` for a built config (or, with `resume`, the run folder's saved one).

    Under torchrun every process calls this: it joins the process group for the fit (and
    leaves it afterwards unless the caller had joined one already); rank 0 alone writes and logs.
    """
    from transferlab.engine import distributed as dist

    joined = dist.is_distributed()
    dist.init_from_env()
    try:
        return _fit(cfg, resume, given or {}, names(candidates), log or _quiet)
    finally:
        if not joined:
            dist.cleanup()


def _fit(cfg: RunConfig | None, resume: str | Path | None, given: dict,
         candidates: list[str], log: Log) -> Run:
    from transferlab.api.resume import resume_config
    from transferlab.api.runner import new_run_dir, prepare_data, run_strategy
    from transferlab.engine import distributed as dist
    from transferlab.results.report import write_report_safely

    say = dist.main_only(log)
    if cfg is not None and cfg.strategy == "lora":  # before any folder or data: the install line
        from transferlab.engine.lora import require_peft

        require_peft()
    if resume is not None:
        run_dir = Path(resume)
        cfg = dist.main_then_broadcast(lambda: resume_config(run_dir, given))
    else:
        # Rank 0 picks the folder name (date-time, -N suffix) and every rank uses it.
        run_dir = Path(dist.main_then_broadcast(lambda: str(new_run_dir(cfg, "fit"))))
        if dist.is_main():
            RunFolder(run_dir).write_config(cfg.to_dict())
    say(f"run folder: {run_dir}")
    splits = prepare_data(cfg, log=say)
    if cfg.backbone == "auto":
        from transferlab.selection import choose_backbone

        cfg.backbone = dist.main_then_broadcast(
            lambda: choose_backbone(cfg, splits, candidates, run_dir, log=say))
    result = run_strategy(cfg, cfg.strategy, splits, run_dir, log=log,
                          resume=resume is not None)
    run = Run.from_result(result)
    if dist.is_main():
        say(json.dumps(run.summary()))
        say(f"model: {run.model_path}")
        write_report_safely(run_dir, say)  # plots + report.html; a failure only warns
    return run


def compare(data: str | Path | None = None, strategies: str | Sequence[str] | None = None, *,
            backbones: str | Sequence[str] | None = None, log: Log | None = print,
            **settings: Any) -> Comparison:
    """Several strategies on the same data, seed and budget, judged against scratch.

    Default strategies: linear-probe, finetune, scratch. `backbones` ("imagenet=
    efficientnet_lite0,src=runs/pre") runs each backbone with each transfer strategy and
    scratch once, rows named LABEL.STRATEGY. `str(result)` is the table (and warnings)
    `transferlab compare` prints; `.runs[name]` is each row's Run.
    """
    strategies = names(strategies) if isinstance(strategies, str) else strategies
    return compare_config(make_config(data=data, strategies=strategies, **settings),
                          log=log, backbones=backbones)


def compare_config(cfg: RunConfig, log: Log | None = print,
                   backbones: str | Sequence[str] | None = None) -> Comparison:
    """`compare` for a built config: one run folder, a sub-folder per row, report.html."""
    from transferlab.api.compare import compare as run_comparison

    report = run_comparison(cfg, log or _quiet, names(backbones) or None)
    runs = {r.strategy: Run.from_result(r) for r in report.results}
    return Comparison(report, runs)


def rank(data: str | Path | None = None, backbones: str | Sequence[str] = (), *,
         estimators: str | Sequence[str] | None = None, sort_by: str = "logme",
         log: Log | None = print, **settings: Any) -> Ranking:
    """Score candidate backbones on the training split (LogME, LEEP, k-NN, linear probe).

    Nothing is fine-tuned: features are extracted once per backbone. `.winner` is the best by
    `sort_by`; RUN/ranking.json holds every score.
    """
    cfg = make_config(data=data, **settings)
    return rank_config(cfg, backbones, estimators, sort_by, log)


def rank_config(cfg: RunConfig, backbones: str | Sequence[str],
                estimators: str | Sequence[str] | None = None, sort_by: str = "logme",
                log: Log | None = print) -> Ranking:
    """`rank` for a built config (the CLI's `--image-size` etc. are config fields)."""
    from transferlab.api.domain import shift_backbone, source_shift
    from transferlab.api.runner import new_run_dir, prepare_data
    from transferlab.selection import DEFAULT_ESTIMATORS, rank_backbones
    from transferlab.selection.estimators import ESTIMATORS

    log = log or _quiet
    candidates = names(backbones)
    if not candidates:
        raise ConfigError("rank needs backbones to score, e.g. backbones='efficientnet_lite0,"
                          "efficientnet_lite0@random'")
    chosen = names(estimators) or list(DEFAULT_ESTIMATORS)
    bad = [e for e in chosen if e not in ESTIMATORS]
    if bad:
        raise ConfigError(f"unknown estimators {bad}; choose from {', '.join(ESTIMATORS)}")
    if sort_by not in chosen:  # before the run folder and the decode, not after them
        raise ConfigError(f"sort_by {sort_by!r} (--sort-by): must be one of the estimators "
                          f"scored, {', '.join(chosen)}")
    run_dir = new_run_dir(cfg, "rank")
    RunFolder(run_dir).write_config(cfg.to_dict(), rank={
        "backbones": candidates, "estimators": chosen, "sort_by": sort_by})
    log(f"run folder: {run_dir}")
    splits = prepare_data(cfg, log)
    shift = source_shift(cfg, splits, shift_backbone(candidates), run_dir, log)
    report = rank_backbones(splits, candidates, cfg.device, cfg.image_size, estimators=chosen,
                            sort_by=sort_by, seed=cfg.seed, log=log)
    saved = report.to_dict() | ({"domain_shift": shift} if shift else {})
    path = RunFolder(run_dir).write_ranking(saved)
    return Ranking(report, run_dir, path)
