"""Provenance of a run-folder backbone and the `--backbones` plan, on hand-made run folders
(no training): what is read, what is recorded, and how rows are named."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.api.backbone_list import default_label, parse_backbones, plan
from transferlab.errors import ConfigError
from transferlab.results.provenance import (
    provenance_line,
    run_folder_of,
    source_provenance,
    stored_fingerprint,
)
from transferlab.results.runfolder import RunFolder


def fake_run(path, data: str, backbone: str, accuracy: float, fingerprint: str | None = "abc",
             source: dict | None = None) -> RunFolder:
    run = RunFolder(path)
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"x")
    run.write_config({"data": data, "backbone": backbone, "strategy": "finetune"},
                     **({"source_run": source} if source else {}))
    run.write_metrics("finetune", {"accuracy": accuracy}, 1.0, {})
    summary = {"train": {"classes": ["a", "b"], "class_counts": {"a": 3, "b": 4}}}
    run.write_data(summary | ({"fingerprint": fingerprint} if fingerprint else {}))
    return run


def test_a_run_folder_backbone_is_read_with_its_own_source(tmp_path):
    first = fake_run(tmp_path / "imagenet-to-src", "fashion-mnist-source", "efficientnet_lite0",
                     0.91, "f1")
    second = fake_run(tmp_path / "src-to-mid", "mid", str(first.path), 0.8, "f2")
    prov = source_provenance(str(second.path))
    assert prov["run"] == str(second.path.resolve()) and prov["data"] == "mid"
    assert prov["data_fingerprint"] == "f2" and prov["test_accuracy"] == 0.8
    assert prov["source"]["data"] == "fashion-mnist-source"  # one level deeper, read from disk
    assert prov["source"]["backbone"] == "efficientnet_lite0"
    line = provenance_line(prov)
    assert "data mid (fingerprint f2)" in line and "test accuracy 0.8000" in line
    assert "; its source run" in line and "fingerprint f1" in line
    assert source_provenance(f"file:{second.path / 'model.safetensors'}") == prov


def test_a_recorded_source_is_kept_rather_than_read_again(tmp_path):
    recorded = {"run": "/elsewhere/gone", "data": "old", "data_fingerprint": "zz"}
    run = fake_run(tmp_path / "r", "d", "/elsewhere/gone", 0.5, source=recorded)
    assert source_provenance(str(run.path))["source"] == recorded


def test_names_that_are_no_run_folder_have_no_provenance(tmp_path):
    assert source_provenance("efficientnet_lite0") is None
    assert run_folder_of(str(tmp_path)) is None  # a folder without model + metrics
    (tmp_path / "w.safetensors").write_bytes(b"x")
    assert source_provenance(str(tmp_path / "w.safetensors")) is None


def test_an_old_run_without_a_stored_fingerprint_gets_one_from_its_digests(tmp_path):
    run = fake_run(tmp_path / "old", "d", "b", 0.5, fingerprint=None)
    run.write_hashes(np.arange(5, dtype="<u8"), (3, 8, 8))
    first = stored_fingerprint(run)
    assert len(first) == 12 and stored_fingerprint(run) == first
    run.write_hashes(np.arange(6, dtype="<u8"), (3, 8, 8))
    assert stored_fingerprint(run) != first


def test_labels_are_short_unique_and_folder_safe():
    assert default_label("runs/pre/finetune") == "pre-finetune"
    assert default_label("runs/fit-20260101-1200") == "fit-20260101-1200"
    assert default_label("timm:resnet18") == "timm-resnet18"
    assert default_label("runs/pre/finetune/model.safetensors") == "pre-finetune"
    got = parse_backbones(["imagenet=efficientnet_lite0", "efficientnet_lite0",
                           "efficientnet_lite0", "scratch=x"])
    assert got == [("imagenet", "efficientnet_lite0"), ("efficientnet_lite0",
                   "efficientnet_lite0"), ("efficientnet_lite0-2", "efficientnet_lite0"),
                   ("scratch-2", "x")]


def test_each_backbone_runs_each_transfer_strategy_and_scratch_runs_once():
    rows = plan(["a=x", "b=y"], ["linear-probe", "finetune", "scratch"])
    assert [r.name for r in rows] == ["a.linear-probe", "a.finetune", "b.linear-probe",
                                      "b.finetune", "scratch"]
    assert rows[-1].backbone == "x" and rows[-1].label is None
    with pytest.raises(ConfigError, match="compares nothing"):
        plan(["a=x"], ["scratch"])
