"""The command line end to end, through a subprocess, on tiny data the tests make."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_folder

COMMANDS = ["compare", "fit", "evaluate", "predict", "export", "backbones", "rank", "report"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "transferlab", *args], capture_output=True,
                          text=True, timeout=900, env={**os.environ})
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command):
    out = cli(command, "--help").stdout
    assert "usage: transferlab " + command in out
    assert len(out.splitlines()) > 5


def test_top_level_help_lists_commands():
    out = cli("--help").stdout
    for command in COMMANDS:
        assert command in out


def test_backbones_lists_bundled_weights():
    out = cli("backbones").stdout
    assert "efficientnet_lite0" in out and "yes" in out


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path):
    proc = cli("fit", "--data", str(tmp_path / "missing"), "--out", str(tmp_path), check=False)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("cli")
    data = write_folder(root / "imgs", classes=3, per_class=12)
    (data / "class_1" / "broken.png").write_bytes(b"")
    out = cli("compare", "--data", str(data), "--per-class", "0", "--image-size", "32",
              "--epochs", "2", "--batch-size", "8", "--device", "cpu", "--out", str(root),
              "--name", "cmp").stdout
    return root / "cmp", out


def test_compare_prints_table_and_writes_run_folder(compare_run):
    run, out = compare_run
    for word in ("strategy", "accuracy", "macro-F1", "wall s", "gain vs scratch",
                 "linear-probe", "finetune", "scratch", "baseline"):
        assert word in out
    report = json.loads((run / "comparison.json").read_text())
    assert [r["strategy"] for r in report["rows"]] == ["linear-probe", "finetune", "scratch"]
    # every metric carries its interval, every strategy vs scratch its paired test and verdict
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("strategy"))
    for ln in lines[head + 1:head + 4]:
        assert re.search(r"\d\.\d{4} \[\d\.\d{3}, \d\.\d{3}\]", ln), ln
        assert len(ln) <= 100
    assert re.search(r"finetune vs scratch: [+-]\d\.\d{3} \[.*\], McNemar p", out)
    assert "linear-probe vs finetune:" in out
    assert "intervals: bootstrap over 6 test images, 1000 resamples, percentile" in out
    advice = [ln for ln in lines if ln.startswith("recommendation: ")]
    assert len(advice) == 1 and advice[0][len("recommendation: "):] == report["recommendation"]
    for r in report["rows"]:
        assert r["ci95"]["accuracy"][0] <= r["accuracy"] <= r["ci95"]["accuracy"][1]
        if r["strategy"] != "scratch":
            assert 0 <= r["gain_p"] <= 1 and r["verdict"] in (
                "transfer helped", "transfer hurt", "indistinguishable")
    assert {(p["a"], p["b"]) for p in report["pairs"]} == {
        ("linear-probe", "scratch"), ("finetune", "scratch"), ("linear-probe", "finetune")}
    assert report["per_class_gain"]["baseline"] == "scratch"
    data = json.loads((run / "data.json").read_text())
    assert data["train"]["skipped"] == 1
    assert data["train"]["skipped_files"][0]["path"].endswith("broken.png")
    for strategy in ("linear-probe", "finetune", "scratch"):
        metrics = json.loads((run / strategy / "metrics.json").read_text())["test"]
        assert {"accuracy", "balanced_accuracy", "macro_f1", "confusion_matrix"} <= set(metrics)
        assert (run / strategy / "config.yaml").is_file()


def test_evaluate_and_predict_from_a_run(compare_run, tmp_path):
    run, _ = compare_run
    model_dir = run / "linear-probe"
    data = write_folder(tmp_path / "eval", classes=3, per_class=4)
    out = cli("evaluate", str(model_dir), "--data", str(data), "--split", "train",
              "--output", str(tmp_path / "m.json")).stdout
    line = json.loads(out.strip().splitlines()[-1])
    assert "accuracy" in line and len(line["ci95"]["accuracy"]) == 2
    assert line["ci95"]["method"] == "bootstrap over 12 test images, 1000 resamples, percentile"
    assert json.loads((tmp_path / "m.json").read_text())["n"] == 12
    pred = cli("predict", str(model_dir), str(data / "class_2"), "--top-k", "2").stdout
    lines = [ln for ln in pred.splitlines() if "img_" in ln]
    assert len(lines) == 4 and all("class_" in ln for ln in lines)


def test_fit_writes_model_and_resolved_config(tmp_path):
    import yaml

    data = write_folder(tmp_path / "imgs", classes=2, per_class=10)
    out = cli("fit", "--data", str(data), "--strategy", "head", "--per-class", "0",
              "--image-size", "32", "--epochs", "1", "--device", "cpu", "--out",
              str(tmp_path), "--name", "f").stdout
    summary = [ln for ln in out.splitlines() if ln.startswith("{")][-1]
    assert json.loads(summary)["strategy"] == "head"
    lo, hi = json.loads(summary)["ci95"]["accuracy"]
    assert lo <= json.loads(summary)["test"]["accuracy"] <= hi
    resolved = yaml.safe_load((tmp_path / "f" / "config.yaml").read_text())
    assert resolved["recipe"]["image_size"] == 32
    assert resolved["phases"][0]["frozen"] == "all"
    assert resolved["config"]["strategy"] == "head"
