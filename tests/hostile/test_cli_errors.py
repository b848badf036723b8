"""`evaluate` refuses an unwritable --output before evaluating and warns when its data overlaps
the model's training images; `compare` prunes its checkpoints and prints the run folder's size."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import write_folder
from tests.hostile.clihelp import cli, one_line_error
from transferlab.cli.compare_cmd import folder_size, human_size

TINY = ["--image-size", "32", "--epochs", "1", "--batch-size", "8", "--device", "cpu"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clierr")


@pytest.fixture(scope="module")
def data(root) -> Path:
    return write_folder(root / "imgs", classes=3, per_class=12)


@pytest.fixture(scope="module")
def fitted(root, data) -> Path:
    proc = cli("fit", "--strategy", "head", *TINY, "--data", data, "--out", root / "runs",
               "--name", "f")
    assert proc.returncode == 0, proc.stderr
    return root / "runs" / "f"


def test_evaluate_output_that_is_a_folder_is_refused_before_evaluating(fitted, data, tmp_path):
    proc = cli("evaluate", fitted, "--data", data, "--split", "train", "--output", tmp_path)
    line = one_line_error(proc)
    assert line == (f"error: --output {tmp_path} is a folder; give a file name, e.g. --output "
                    f"{tmp_path / 'metrics.json'}")
    assert proc.stdout == ""  # no metrics printed: nothing was evaluated
    assert list(tmp_path.iterdir()) == []


def test_evaluate_output_in_a_missing_folder_is_refused(fitted, data, tmp_path):
    target = tmp_path / "no" / "such" / "m.json"
    line = one_line_error(cli("evaluate", fitted, "--data", data, "--output", target))
    assert line == (f"error: --output {target}: folder {target.parent} does not exist; create "
                    "it or write the metrics elsewhere")
    assert not (tmp_path / "no").exists()


def test_evaluate_warns_when_its_images_trained_the_model(fitted, data):
    summary = json.loads((fitted / "data.json").read_text())
    learned = summary["train"]["images"] + (summary["val"] or {}).get("images", 0)
    proc = cli("evaluate", fitted, "--data", data, "--split", "train", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert (f"warning: {learned} of 36 evaluation images are also training images of this "
            "model; the metrics are optimistic") in proc.stderr.splitlines()
    assert "accuracy" in json.loads(proc.stdout.strip().splitlines()[-1])


def test_evaluate_on_new_images_does_not_warn(fitted, root):
    fresh = write_folder(root / "fresh", classes=3, per_class=4, size=31)  # other pixels
    proc = cli("evaluate", fitted, "--data", fresh, "--split", "train", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "training images of this model" not in proc.stderr


def test_compare_prunes_checkpoints_and_prints_the_run_folder_size(root, data):
    proc = cli("compare", "--strategies", "linear-probe,head", *TINY, "--data", data,
               "--out", root / "runs", "--name", "cmp")
    assert proc.returncode == 0, proc.stderr
    run = root / "runs" / "cmp"
    for strategy in ("linear-probe", "head"):
        assert (run / strategy / "model.safetensors").is_file()
        assert not (run / strategy / "checkpoint").exists()
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"run folder {re.escape(str(run))}: \d+\.\d (KB|MB)", last), last
    assert last.endswith(human_size(folder_size(run)))


@pytest.mark.parametrize("args, expected", [
    (["fit", "--bn", "sideways"], "error: transferlab fit: argument --bn: invalid choice: "
     "'sideways' (choose from 'frozen', 'train'); see `transferlab fit --help`"),
    (["fit", "--epochs", "ten"], "error: transferlab fit: argument --epochs: invalid int value: "
     "'ten'; see `transferlab fit --help`"),
    (["frobnicate"], "error: transferlab: argument COMMAND: invalid choice: 'frobnicate' "
     "(choose from 'compare', 'fit', 'evaluate', 'predict', 'export', 'backbones', 'rank', "
     "'report', 'check', 'layers'); see `transferlab --help`"),
])
def test_a_bad_flag_is_one_line_not_a_usage_block(args, expected, tmp_path):
    proc = cli(*args, "--out", tmp_path) if args[0] == "fit" else cli(*args)
    assert one_line_error(proc) == expected
    assert "usage:" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
