"""The report draws a reliability diagram before/after T from metrics.json's calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.report_synth import make_fit_run
from tests.unit.test_report import assert_png, embedded_pngs
from transferlab.results import calibration as cal
from transferlab.results.report import write_report
from transferlab.results.report.calibration_plot import calibration_caption, reliability_diagram


def _block() -> dict:
    """An overconfident model's calibration (logits 3x too large), as fit writes it."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (600, 3))
    labels = (cal.softmax(logits).cumsum(1) < rng.random((600, 1))).sum(1).clip(0, 2)
    t = cal.fit_temperature(logits * 3, labels)
    return {"temperature": t, "fitted_on": "validation split (600 images)", "n": 600,
            **cal.summary(logits * 3, labels, t)}


def test_reliability_diagram_is_a_png(tmp_path: Path) -> None:
    assert_png(reliability_diagram(_block(), tmp_path / "rel.png", "finetune"))


def test_fit_report_shows_calibration(tmp_path: Path) -> None:
    run = make_fit_run(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    block = _block()
    metrics["test"]["calibration"] = block
    (run / "metrics.json").write_text(json.dumps(metrics))
    page = write_report(run).read_text()
    assert len(embedded_pngs(page)) == 5  # the four of a fit report + the reliability diagram
    assert (run / "plots" / "lp-ft-calibration.png").is_file()
    before, after = block["before"]["ece"], block["after"]["ece"]
    assert f"ECE {before:.3f} → {after:.3f}" in page and before > after
    assert "validation split (600 images)" in page


def test_no_caption_without_calibration() -> None:
    assert calibration_caption({"accuracy": 0.5}) == ""
