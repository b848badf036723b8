"""Backbone sources: how a name becomes a Backbone, in the spirit of timm's `create_model`.

Each source is a matcher (a prefix such as `tv:`, or a predicate on the whole name) and a
factory `factory(name, pretrained, **options) -> Backbone`. `create_backbone` asks the sources
in registration order and the first that matches builds the backbone, so every caller (fit,
compare, rank, load_model) accepts the same names, and a new source is one `register_source`
call instead of another branch in a dispatcher. transferlab's own sources are registered by
`transferlab.backbones`; a project can add its own (`first=True` to go ahead of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    from transferlab.backbones.base import Backbone

BackboneFactory = Callable[..., "Backbone"]  # factory(name, pretrained, **options)
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
UNKNOWN_HINT = ("Valid: a bundled name ({bundled}), timm:NAME, tv:NAME, minilm or hf:PATH (text), "
                "or a path to weights/a run folder. `transferlab backbones` lists what works "
                "offline.")


@dataclass(frozen=True)
class BackboneSource:
    """One way of naming backbones; `prefixes` are cut off before the factory sees the name."""

    label: str
    factory: BackboneFactory
    prefixes: tuple[str, ...] = ()
    predicate: Callable[[str], bool] | None = None

    def resolve(self, name: str) -> str | None:
        """The name the factory gets (prefix removed), or None when this source does not match."""
        for prefix in self.prefixes:
            if name.startswith(prefix):
                return name[len(prefix):]
        if self.predicate is not None and self.predicate(name):
            return name
        return None


_SOURCES: list[BackboneSource] = []


def register_source(match: str | tuple[str, ...] | Callable[[str], bool],
                    factory: BackboneFactory, label: str | None = None,
                    first: bool = False) -> BackboneSource:
    """Register `factory` for names starting with a prefix (or tuple of prefixes; the factory
    gets the rest of the name) or accepted by a predicate (it gets the whole name).

    Registering a label again replaces that source where it stands, so re-importing a plugin
    does not stack duplicates; `first=True` puts a new source ahead of the built-in ones.
    """
    if isinstance(match, str | tuple):
        prefixes = (match,) if isinstance(match, str) else tuple(match)
        source = BackboneSource(label or prefixes[0], factory, prefixes=prefixes)
    elif callable(match):
        source = BackboneSource(label or getattr(match, "__name__", "predicate"), factory,
                                predicate=match)
    else:
        raise TypeError(f"match must be a prefix, a tuple of prefixes or a predicate, not "
                        f"{type(match).__name__}")
    at = next((i for i, s in enumerate(_SOURCES) if s.label == source.label), None)
    if at is not None:
        _SOURCES[at] = source
    elif first:
        _SOURCES.insert(0, source)
    else:
        _SOURCES.append(source)
    return source


def unregister_source(label: str) -> None:
    """Remove a source by label (tests and plugins that registered a temporary one)."""
    _SOURCES[:] = [s for s in _SOURCES if s.label != label]


def registered_sources() -> list[str]:
    """Labels in the order `create_backbone` tries them."""
    return [s.label for s in _SOURCES]


def is_weights_path(name: str) -> bool:
    """A weights file (by suffix) or an existing folder (a transferlab run or export)."""
    path = Path(name.removeprefix("file:"))
    return path.suffix in WEIGHT_SUFFIXES or path.is_dir()


def create_backbone(name: str, pretrained: bool = True, arch: str | None = None) -> Backbone:
    """Resolve `name` to a backbone; `pretrained=False` gives the same architecture, random init.

    `arch` (the `--arch` flag) names the timm architecture of a weights file that does not say
    which one it holds; every other name carries its architecture, so `arch` is refused there.
    """
    if arch is not None and not is_weights_path(name):
        raise ConfigError(
            f"--arch {arch} only applies to a weights file (--backbone FILE.safetensors or "
            f".pt); {name!r} already names its architecture: drop --arch")
    for source in _SOURCES:
        rest = source.resolve(name)
        if rest is not None:
            options = {"arch": arch} if arch is not None else {}
            return source.factory(rest, pretrained, **options)
    from transferlab.backbones.bundled import BUNDLED

    raise WeightsError(f"unknown backbone {name!r}. "
                       + UNKNOWN_HINT.format(bundled=", ".join(BUNDLED)))
