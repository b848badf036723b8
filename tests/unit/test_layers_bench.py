"""bench/layers_bench.py --merge: k values measured by separate processes become one table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import BENCH, load_script
from transferlab.api.layers import LAYERS_JSON, UNIT
from transferlab.results.stats import seed_interval

bench = load_script(BENCH / "layers_bench.py")
GROUPS = ["stem", "blocks.0", "blocks.1"]


def write_run(folder: Path, ks: list[int], seeds=(0, 1), recipe=None) -> Path:
    rows = [{"k": k, "frozen": seed_interval([0.5 + k / 10, 0.52 + k / 10], bounds=UNIT),
             "finetuned": seed_interval([0.6 + k / 10, 0.61 + k / 10], bounds=UNIT)}
            for k in ks]
    folder.mkdir(parents=True)
    (folder / LAYERS_JSON).write_text(json.dumps(
        {"backbone": "efficientnet_lite0", "groups": GROUPS, "rows": rows,
         "seeds": list(seeds), "seconds": 10.0, "recipe": recipe or {"epochs": 8},
         "method": "m"}))
    return folder


def test_merge_orders_rows_by_k_and_writes_one_plot(tmp_path):
    a = write_run(tmp_path / "a", [0, 2])
    b = write_run(tmp_path / "b", [3, 1])
    result = bench.merge_runs([b, a], tmp_path / "out")
    assert [r["k"] for r in result.rows] == [0, 1, 2, 3]
    assert result.seconds == 20.0
    saved = json.loads((tmp_path / "out" / LAYERS_JSON).read_text())
    assert [r["k"] for r in saved["rows"]] == [0, 1, 2, 3]
    assert saved["rows"][1]["finetuned"]["values"] == [0.7, 0.71]
    assert (tmp_path / "out" / "layers.png").stat().st_size > 1000
    lines = result.table().splitlines()
    assert [line.split()[0] for line in lines[1:5]] == ["0", "1", "2", "3"]
    assert lines[2].split()[1] == "stem"  # k = 1: copied up to the first group


@pytest.mark.parametrize(("other", "message"), [
    ({"ks": [2]}, "k measured twice"),
    ({"ks": [3], "seeds": (0, 1, 2)}, "another seeds"),
    ({"ks": [3], "recipe": {"epochs": 15}}, "another recipe"),
])
def test_merge_refuses_runs_that_do_not_fit_together(tmp_path, other, message):
    a = write_run(tmp_path / "a", [0, 2])
    b = write_run(tmp_path / "b", other.pop("ks"), **other)
    with pytest.raises(ValueError, match=message):
        bench.merge_runs([a, b], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_merge_names_a_missing_run(tmp_path):
    a = write_run(tmp_path / "a", [0])
    with pytest.raises(ValueError, match=r"nope/layers.json not found"):
        bench.merge_runs([a, tmp_path / "nope"], tmp_path / "out")


def test_merge_of_a_missing_run_is_one_line_and_exit_2(tmp_path):
    import subprocess
    import sys

    a = write_run(tmp_path / "a", [0])
    proc = subprocess.run([sys.executable, str(BENCH / "layers_bench.py"), "--merge",
                           f"{a},{tmp_path / 'nope'}", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: --merge: {tmp_path / 'nope' / 'layers.json'} not found; give the layers run "
        "folders (OUT/layers of each bench run)"]
    assert not (tmp_path / "o").exists()
