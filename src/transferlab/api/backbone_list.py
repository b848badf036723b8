"""`compare --backbones A,B,...`: several starting points judged against one scratch run.

Each backbone gets a short label (`LABEL=NAME` names it; otherwise it is made from the name:
a run folder `runs/pre/finetune` becomes `pre-finetune`). Every backbone runs every non-scratch
strategy; scratch runs once, on the first backbone's architecture, so all rows share one
baseline, one data split and one seed. A row's name, which is also its sub-folder, is
`LABEL.STRATEGY` (`imagenet.finetune`); the row also says its backbone and strategy apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from transferlab.engine.strategies import STRATEGIES
from transferlab.errors import ConfigError

LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Candidate:
    """One row of a multi-backbone comparison: which backbone, which strategy, its name."""

    name: str  # the row's unique name and sub-folder: LABEL.STRATEGY, or "scratch"
    backbone: str  # as the user gave it (registry name, weights file or run folder)
    label: str | None  # None for scratch, which is no transfer from any backbone
    strategy: str


def default_label(backbone: str) -> str:
    """A folder-safe short name: the run folder's name (with its parent when the folder is a
    compare sub-folder named after a strategy), or the registry name."""
    text = backbone.removeprefix("file:")
    path = Path(text)
    if "/" in text or path.exists():
        parts = [p for p in path.parts if p not in ("/", ".", "..")]
        if parts and parts[-1] == "model.safetensors":
            parts = parts[:-1]
        keep = parts[-2:] if parts and parts[-1] in STRATEGIES else parts[-1:]
        text = "-".join(keep) or "backbone"
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-.") or "backbone"


def parse_backbones(items: list[str]) -> list[tuple[str, str]]:
    """[(label, backbone)]: `LABEL=NAME` or `NAME`; labels made unique (`-2`, `-3`, ...)."""
    out: list[tuple[str, str]] = []
    for item in items:
        label, sep, name = item.partition("=")
        if not sep or not LABEL.match(label.strip()) or not name.strip():
            label, name = default_label(item.strip()), item.strip()
        label, name = label.strip(), name.strip()
        base, n = label, 2
        while label in {lab for lab, _ in out} or label == "scratch":
            label, n = f"{base}-{n}", n + 1
        out.append((label, name))
    if not out:
        raise ConfigError("--backbones needs at least one backbone, e.g. --backbones "
                          "imagenet=efficientnet_lite0,src=runs/pretrain-src")
    return out


def plan(backbones: list[str], strategies: list[str]) -> list[Candidate]:
    """Each backbone x each non-scratch strategy, then scratch once (if asked for)."""
    labelled = parse_backbones(backbones)
    rows = [Candidate(f"{label}.{s}", name, label, s)
            for label, name in labelled for s in strategies if s != "scratch"]
    if not rows:
        raise ConfigError("--backbones with --strategies scratch alone compares nothing; "
                          "add a transfer strategy, e.g. --strategies finetune,scratch")
    if "scratch" in strategies:
        rows.append(Candidate("scratch", labelled[0][1], None, "scratch"))
    return rows
