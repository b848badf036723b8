"""compare --seeds end to end on tiny data: intervals, paired tests, seeds, recommendation,
and a report rebuilt from the run folder alone (predictions.npz, seed-S/ folders)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import write_folder
from transferlab import compare
from transferlab.results.report import write_report

TINY = dict(image_size=32, epochs=1, batch_size=8, device="cpu", per_class=0)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdict")
    data = write_folder(root / "imgs", classes=3, per_class=10)
    return compare(data, strategies=["linear-probe", "scratch"], seeds=2, seed=5,
                   out=root / "runs", name="two-seeds", log=None, **TINY)


@pytest.mark.slow
def test_two_seeds_give_two_points_per_strategy_on_one_split(seeded):
    run = seeded.run_dir
    saved = json.loads((run / "comparison.json").read_text())
    for r in saved["rows"]:
        s = r["seeds"]
        assert s["seeds"] == [5, 6] and len(s["accuracy"]["values"]) == 2
        assert s["accuracy"]["mean"] == pytest.approx(sum(s["accuracy"]["values"]) / 2)
        assert s["accuracy"]["values"][0] == r["accuracy"]  # the first seed is the row
        assert "t-interval across 2 seeds" in s["accuracy"]["method"]
        name = r["strategy"]
        assert (run / name / "model.safetensors").is_file()
        again = json.loads((run / name / "seed-6" / "metrics.json").read_text())["test"]
        assert again["accuracy"] == s["accuracy"]["values"][1]
    # the split is the same for both seeds: the same test labels
    a = np.load(run / "scratch" / "predictions.npz")["y_true"]
    b = np.load(run / "scratch" / "seed-6" / "predictions.npz")["y_true"]
    assert np.array_equal(a, b)
    assert "first seed" in saved["methods"]["seeds"]
    assert set(seeded.runs) == {"linear-probe", "scratch"}  # runs stay the first seeds


@pytest.mark.slow
def test_comparison_json_has_intervals_p_values_and_recommendation(seeded):
    saved = json.loads((seeded.run_dir / "comparison.json").read_text())
    lp = next(r for r in saved["rows"] if r["strategy"] == "linear-probe")
    lo, hi = lp["ci95"]["accuracy"]
    assert lo <= lp["accuracy"] <= hi and lp["ci95"]["method"].startswith("bootstrap over")
    assert lp["gain_ci95"][0] <= lp["transfer_gain"] <= lp["gain_ci95"][1]
    assert 0 <= lp["gain_p"] <= 1
    (pair,) = saved["pairs"]
    assert (pair["a"], pair["b"]) == ("linear-probe", "scratch")
    assert pair["test"].startswith("McNemar")
    assert saved["recommendation"] == seeded.recommendation
    assert saved["recommendation"].startswith(("use ", "transfer did not help"))
    assert len(saved["per_class_gain"]["classes"]) == 3
    text = str(seeded)
    assert "across 2 training seeds" in text and "recommendation: " in text


@pytest.mark.slow
def test_a_report_rebuilt_from_an_old_comparison_json_judges_again(seeded):
    run = seeded.run_dir
    saved = json.loads((run / "comparison.json").read_text())
    old = {k: saved[k] for k in ("rows", "baseline", "warnings", "run_dir")}
    old["rows"] = [{k: v for k, v in r.items()
                    if k not in ("ci95", "gain_ci95", "gain_p", "verdict", "seeds")}
                   for r in old["rows"]]
    (run / "comparison.json").write_text(json.dumps(old))
    page = write_report(run).read_text()
    (run / "comparison.json").write_text(json.dumps(saved))
    assert "Recommendation: " + saved["recommendation"].split(";")[0] in page
    assert "Across training seeds" in page and "seed 6:" in page
    assert "Paired comparisons on the same test images" in page
    assert "Per-class gain: linear-probe vs scratch" in page
