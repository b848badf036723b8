"""Offline-first hub weights: an uncached `timm:`/`hf:` name fails fast in one line naming what
to supply; cached weights load with no network; a plain state dict loads with `--arch`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from tests.conftest import write_folder
from tests.hostile.clihelp import cli, one_line_error
from transferlab.backbones import create_backbone
from transferlab.errors import ConfigError, WeightsError

TINY_ARCH = "test_resnet"  # timm's own ~0.1M-parameter test network

PROBE = """
import json, time
import timm  # imported first: the 5 s are for finding the weights, not for importing timm
from transferlab.backbones import create_backbone
start = time.perf_counter()
try:
    create_backbone("timm:resnet18")
    out = {"type": None, "message": ""}
except Exception as exc:
    out = {"type": type(exc).__name__, "message": str(exc)}
out["seconds"] = time.perf_counter() - start
print(json.dumps(out))
"""


def no_network_env(tmp_path: Path) -> dict:
    """A user's shell with no network: no HF_HUB_OFFLINE, empty caches, an unreachable hub."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")}
    return {**env, "HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "torch"),
            "HF_ENDPOINT": "http://127.0.0.1:9"}  # port 9 (discard): nothing listens


def test_uncached_timm_name_fails_within_5s_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=300, env=no_network_env(tmp_path))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["type"] == "WeightsError", out
    assert out["seconds"] < 5, out
    message = out["message"]
    assert "\n" not in message
    assert message.startswith("pretrained weights for timm 'resnet18' are not available: they "
                              "are not in the local cache and the hub cannot be reached")
    assert str(tmp_path / "hf" / "hub") in message
    assert "--backbone FILE.safetensors --arch resnet18" in message


def test_fit_with_uncached_timm_name_is_one_line_and_its_fix_exists(tmp_path):
    data = write_folder(tmp_path / "imgs", classes=2, per_class=6)
    proc = cli("fit", "--data", data, "--backbone", "timm:resnet18", "--device", "cpu",
               "--out", tmp_path / "runs", env=no_network_env(tmp_path), timeout=300)
    line = one_line_error(proc)
    assert "timm 'resnet18' are not available" in line and "--arch resnet18" in line
    assert "--arch" in cli("fit", "--help").stdout  # the flag the message promises


def tiny_state_dict(seed: int = 3) -> dict[str, torch.Tensor]:
    import timm

    torch.manual_seed(seed)
    net = timm.create_model(TINY_ARCH, pretrained=False)
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def test_cached_hub_weights_load_without_any_network(tmp_path, monkeypatch):
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--timm--test_resnet.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    state = tiny_state_dict()
    save_file(state, str(repo / "snapshots" / "0123abcd" / "model.safetensors"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    def no_network(*args, **kwargs):
        raise AssertionError(f"network used: {args}")

    monkeypatch.setattr("socket.create_connection", no_network)
    monkeypatch.setattr("socket.getaddrinfo", no_network)
    start = time.perf_counter()
    backbone = create_backbone(f"timm:{TINY_ARCH}")
    assert time.perf_counter() - start < 5
    assert torch.equal(backbone.net.state_dict()["conv1.0.weight"], state["conv1.0.weight"])
    assert backbone.spec.pretrained


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_file_without_metadata_needs_and_takes_arch(tmp_path, suffix):
    state = tiny_state_dict()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".pt":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    with pytest.raises(WeightsError, match="does not say which architecture it holds; pass "
                       "--arch NAME"):
        create_backbone(str(path))
    backbone = create_backbone(str(path), arch=TINY_ARCH)
    assert torch.equal(backbone.net.state_dict()["conv1.0.weight"], state["conv1.0.weight"])
    assert backbone.spec.architecture == TINY_ARCH
    assert backbone.dropped_keys == ["fc.bias", "fc.weight"]  # its ImageNet head, reported


def test_arch_with_a_name_that_has_its_own_architecture_is_refused():
    with pytest.raises(ConfigError, match="--arch resnet18 only applies to a weights file"):
        create_backbone("efficientnet_lite0", arch="resnet18")


def test_fit_cli_loads_a_plain_state_dict_with_arch(tmp_path):
    weights = tmp_path / "weights.safetensors"
    save_file(tiny_state_dict(), str(weights))
    data = write_folder(tmp_path / "imgs", classes=2, per_class=6)
    proc = cli("fit", "--data", data, "--backbone", weights, "--arch", TINY_ARCH, "--strategy",
               "head", "--image-size", "32", "--epochs", "1", "--device", "cpu", "--out",
               tmp_path / "runs", "--name", "arch", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resolved = yaml.safe_load((tmp_path / "runs" / "arch" / "config.yaml").read_text())
    assert resolved["config"]["arch"] == TINY_ARCH
    assert resolved["weights"]["architecture"] == TINY_ARCH
    assert resolved["weights"]["source"] == f"file:{weights}"


def test_uncached_hf_text_name_fails_fast_in_one_line():
    start = time.perf_counter()
    with pytest.raises(WeightsError) as err:
        create_backbone("hf:nobody/not-a-cached-model")
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "\n" not in message and "neither a local folder nor in the Hugging Face cache" in message
    assert "--backbone hf:DIR" in message


def test_uncached_torchvision_name_fails_fast_in_one_line(tmp_path):
    """torch.hub would try download.pytorch.org; behind a dead proxy it must not wait for it."""
    env = {**no_network_env(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9"}
    probe = PROBE.replace("import timm", "import torchvision").replace("timm:resnet18",
                                                                       "tv:resnet18")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, env=env)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["type"] == "WeightsError", out
    assert out["seconds"] < 5, out
    assert "\n" not in out["message"]
    assert out["message"].startswith("pretrained weights for torchvision 'resnet18' are not "
                                      "available offline (file resnet18-f37072fd.pth expected "
                                      f"under {tmp_path / 'torch' / 'hub' / 'checkpoints'}")
    assert "download https://download.pytorch.org/models/resnet18-f37072fd.pth" in out["message"]
