"""`rank --source-data`: the domain-shift figure is printed and stored with the ranking."""

from __future__ import annotations

import json

import pytest

from transferlab.api.domain import DOMAIN_SHIFT, shift_backbone


@pytest.mark.slow  # ~20 s on a shared CPU: features of 40 images, two PAD fits
def test_rank_with_source_data_stores_pad_and_mmd(tmp_path):
    from tests.cli.test_rank_cli import write_stripes
    from tests.conftest import write_folder
    from transferlab.api.workflows import rank

    target = write_stripes(tmp_path / "stripes", per_class=10)
    source = write_folder(tmp_path / "patches", classes=2, per_class=10)
    lines: list[str] = []
    ranking = rank(str(target), "efficientnet_lite0", estimators="knn", sort_by="knn",
                   source_data=str(source), image_size=32, device="cpu", out=str(tmp_path),
                   name="r", log=lines.append)
    line = next(x for x in lines if x.startswith("domain shift source→target"))
    assert "PAD" in line and "MMD²" in line and "efficientnet_lite0" in line
    saved = json.loads(ranking.path.read_text())["domain_shift"]
    assert 0.0 <= saved["pad"] <= 2.0 and saved["mmd2"] > 0  # stripes vs colour patches
    assert saved == json.loads((tmp_path / "r" / DOMAIN_SHIFT).read_text())


def test_shift_backbone_prefers_a_pretrained_candidate():
    assert shift_backbone(["a@random", "b", "c"]) == "b"
    assert shift_backbone(["a@random"]) == "a@random"


def test_source_data_flag_on_rank_and_compare_only():
    from transferlab.cli import build_parser
    from transferlab.cli.common import config_from_args

    for cmd in (["compare"], ["rank", "--backbones", "efficientnet_lite0"]):
        args = build_parser().parse_args([*cmd, "--source-data", "fashion-mnist-source"])
        assert config_from_args(args).source_data == "fashion-mnist-source"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "--source-data", "x"])
