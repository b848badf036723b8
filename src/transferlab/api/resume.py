"""Resuming a fit: the saved config of a run folder, and the settings a resume may repeat.

A resumed run must train exactly as it started (bit-for-bit under `deterministic`), so it reads
every training setting back from RUN/config.yaml; settings given again must repeat the saved
values. Only where it runs and what it keeps (RESUME_MAY_CHANGE) may differ.
"""

from __future__ import annotations

from pathlib import Path

from transferlab.config import RunConfig, SettingError, check_setting
from transferlab.errors import ConfigError
from transferlab.results.runfolder import saved_config

RESUME_MAY_CHANGE = ("device", "compile", "keep_checkpoints")  # how it runs, what it keeps


def resume_config(run_dir: Path, given: dict) -> RunConfig:
    """The saved config; `given` settings must repeat it, bar RESUME_MAY_CHANGE.

    `given` holds only what the user passed (None = not given); an unknown name is refused
    rather than ignored, since the user meant something by it.
    """
    cfg = saved_config(run_dir)
    given = {k: v for k, v in given.items() if v is not None}
    unknown = sorted(k for k in given if not hasattr(cfg, k))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(cfg.to_dict()))}")
    conflicts = [_conflict(run_dir, cfg, k, v) for k, v in given.items()
                 if k not in RESUME_MAY_CHANGE]
    conflicts = [c for c in conflicts if c]
    if conflicts:
        raise ConfigError("; ".join(conflicts) + "; resume takes no training flags (or repeat "
                          "the same values)")
    for k in RESUME_MAY_CHANGE:
        if given.get(k) is not None:
            setattr(cfg, k, given[k])
    return cfg


def _conflict(run_dir: Path, cfg: RunConfig, name: str, value: object) -> str | None:
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
