"""`transferlab rank` and `fit --backbone auto` on a tiny image folder, as a user runs them.

The two classes differ only in stripe orientation; colours are random per image. Colour alone
would be separable by random-weight features too, orientation needs what ImageNet taught, so
the pretrained backbone must outrank the same architecture with random weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CANDIDATES = "efficientnet_lite0,efficientnet_lite0@random"


def write_stripes(root: Path, per_class: int = 12, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for name, axis in (("horizontal", yy), ("vertical", xx)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            wave = np.sin(2 * np.pi * rng.uniform(3, 6) * axis + rng.uniform(0, 2 * np.pi))
            mix = (wave[..., None] + 1) / 2
            img = mix * rng.uniform(0, 255, 3) + (1 - mix) * rng.uniform(0, 255, 3)
            img += rng.normal(0, 20, img.shape)
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def stripes(tmp_path_factory) -> Path:
    return write_stripes(tmp_path_factory.mktemp("stripes"))


def test_rank_prints_table_and_writes_ranking_json(stripes, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "transferlab", "rank", "--data", str(stripes), "--backbones",
         CANDIDATES, "--image-size", "64", "--device", "cpu", "--out", str(tmp_path),
         "--name", "r"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "logme *" in out and "leep" in out and "knn" in out and "linear" in out
    table = [line for line in out.splitlines() if line[:1].isdigit()]
    assert table[0].split()[:2] == ["1", "efficientnet_lite0"]
    assert table[1].split()[:2] == ["2", "efficientnet_lite0@random"]
    assert "n/a" in table[1]  # no LEEP without a pretrained source head
    assert "best: efficientnet_lite0 " in out

    report = json.loads((tmp_path / "r" / "ranking.json").read_text())
    assert report["winner"] == "efficientnet_lite0" and report["sort_by"] == "logme"
    pre, rnd = report["rows"]
    assert (pre["backbone"], pre["pretrained"], rnd["pretrained"]) == (
        "efficientnet_lite0", True, False)
    assert pre["scores"]["logme"] > rnd["scores"]["logme"]
    assert isinstance(pre["scores"]["leep"], float) and pre["scores"]["leep"] < 0
    assert rnd["scores"]["leep"] is None and "source head" in rnd["notes"]["leep"]
    assert 0.0 <= rnd["scores"]["knn"] <= 1.0 and pre["image_size"] == 64
    assert set(pre["seconds"]) == {"features", "logme", "leep", "knn", "linear"}
    assert (tmp_path / "r" / "config.yaml").is_file()


def test_fit_auto_ranks_candidates_and_picks_the_pretrained_one(stripes, tmp_path):
    from transferlab.api.runner import prepare_data
    from transferlab.cli import build_parser
    from transferlab.config import RunConfig
    from transferlab.selection import choose_backbone

    args = build_parser().parse_args(["fit", "--backbone", "auto", "--candidates", CANDIDATES])
    assert args.candidates == CANDIDATES
    cfg = RunConfig(data=str(stripes), backbone="auto", image_size=64, device="cpu")
    splits = prepare_data(cfg, log=lambda _: None)
    lines: list[str] = []
    winner = choose_backbone(cfg, splits, CANDIDATES.split(","), tmp_path, log=lines.append)
    assert winner == cfg.backbone == "efficientnet_lite0"
    assert json.loads((tmp_path / "ranking.json").read_text())["winner"] == winner
    assert "backbone: efficientnet_lite0" in (tmp_path / "config.yaml").read_text()
    assert any("auto -> efficientnet_lite0" in line for line in lines)
