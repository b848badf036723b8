"""Real transfer on real data: ImageNet EfficientNet-Lite0 → Fashion-MNIST beats scratch."""

from __future__ import annotations

import os

import pytest

from transferlab.config import RunConfig
from transferlab.data.idx import DEBIAN_FASHION_MNIST

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fashion():
    if not (DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's dataset-fashion-mnist (scripts/setup.sh)")
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    return "fashion-mnist"


def test_transfer_beats_scratch_on_fashion_mnist(fashion, tmp_path):
    from transferlab.api.compare import compare

    cfg = RunConfig(data=fashion, per_class=20, max_test=1000, image_size=64, epochs=8,
                    device="cpu", out=str(tmp_path), name="fm", seed=0)
    report = compare(cfg, log=lambda *_: None)
    acc = {r["strategy"]: r["accuracy"] for r in report.rows}
    assert acc["linear-probe"] > acc["scratch"] + 0.05, acc
    assert acc["finetune"] > acc["scratch"] + 0.05, acc
    assert report.warnings == []
    assert (tmp_path / "fm" / "report.html").is_file()
