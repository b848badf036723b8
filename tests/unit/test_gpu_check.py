"""bench/gpu_check.{sh,py} where no GPU is: argument parsing, the PASS/FAIL verdicts (a step
that timed out is a FAIL naming why), the shell script's set-up failure line, and the Python
steps themselves on a CPU at --quick size on a tiny IDX folder."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import BENCH, load_script


@pytest.fixture(scope="module")
def gc():
    return load_script(BENCH / "gpu_check.py")


def test_quick_fills_tiny_sizes_and_a_given_flag_wins(gc) -> None:
    a = gc.parse_args(["throughput", "--quick", "--steps", "4", "--json", "x.json"])
    assert (a.image_size, a.batch_size, a.steps, a.warmup) == (64, 8, 4, 1)
    full = gc.parse_args(["throughput", "--json", "x.json"])
    assert (full.image_size, full.infer_batch, full.steps, full.compile) == (None, 256, 30, "auto")
    t = gc.parse_args(["tta", "--quick", "--device", "cpu", "--json", "x.json"])
    assert (t.per_class, t.epochs, t.device) == (5, 1, "cpu")
    assert gc.parse_args(["tta", "--json", "x.json"]).per_class == 0  # full data by default
    with pytest.raises(SystemExit):
        gc.parse_args(["throughput"])  # --json is required: a step always leaves its result


def results(train=0.95, infer=0.80, acc=0.951, wall=59.0) -> dict:
    return {"throughput": {"train_path": 100 * train, "train_limit": 100.0,
                           "features": 100 * infer, "infer_limit": 100.0},
            "tta": {"accuracy": acc, "wall": wall, "epochs": 6, "n": 10000}}


def test_verdicts_compare_each_figure_with_its_target(gc) -> None:
    rows = gc.verdict_rows(results())
    assert [r["result"] for r in rows] == ["PASS", "FAIL", "PASS"]
    assert [r["result"] for r in gc.verdict_rows(results(infer=0.85, wall=60.5))] == [
        "PASS", "PASS", "FAIL"]
    assert gc.verdict_rows(results(acc=0.9499))[2]["result"] == "FAIL"


def test_a_step_that_left_no_result_is_a_fail_naming_why(gc, tmp_path) -> None:
    (tmp_path / "tta.json").write_text(json.dumps(results()["tta"] | {"command": "fit"}))
    (tmp_path / "throughput.error").write_text("timed out after 210s\n")
    loaded = gc.load_results(tmp_path)
    rows = gc.verdict_rows(loaded)
    assert [r["result"] for r in rows[:2]] == ["FAIL (timed out after 210s)"] * 2
    assert rows[2]["result"] == "PASS"
    assert gc.main(["table", str(tmp_path)]) == 1
    assert "timed out after 210s" in gc.format_table(loaded)


def test_a_step_stopped_halfway_keeps_the_figures_it_had(gc) -> None:
    part = {"throughput": {"train_path": 95.0, "train_limit": 100.0, "infer_limit": 50.0},
            "throughput_error": "timed out after 210s"}
    rows = gc.verdict_rows(part)
    assert rows[0]["result"] == "PASS" and rows[0]["measured"].endswith("0.950")
    assert rows[1]["result"] == "FAIL (timed out after 210s)" and rows[1]["measured"] is None


def test_the_script_stops_with_one_line_when_no_python_has_torch(tmp_path) -> None:
    bash = shutil.which("bash")
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    shutil.copy(BENCH / "gpu_check.sh", root / "bench")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\nexit 1\n")  # a python3 without torch
    (fake / "python3").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin"}
    proc = subprocess.run([bash, str(root / "bench" / "gpu_check.sh")], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("gpu_check: SETUP FAILED: no python whose torch sees")
    assert proc.stdout == ""


def test_the_script_parses_in_bash() -> None:
    subprocess.run(["bash", "-n", str(BENCH / "gpu_check.sh")], check=True)


@pytest.mark.slow  # ~20 s on a busy 2-core CPU: four model builds and their steps
def test_throughput_step_runs_on_a_cpu_at_quick_size(gc, idx_folder, tmp_path) -> None:
    out = tmp_path / "r" / "throughput.json"
    assert gc.main(["throughput", "--device", "cpu", "--quick", "--steps", "1",
                    "--data", str(idx_folder), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert {"train_limit", "train_path", "infer_limit", "features"} <= set(r)
    assert all(r[k] > 0 for k in ("train_limit", "train_path", "infer_limit", "features"))
    assert (r["device"], r["image_size"], r["compile"], r["dtype"]) == ("cpu", 64, False,
                                                                         "float32")


@pytest.mark.slow
def test_tta_step_runs_a_real_fit_on_a_cpu_at_quick_size(gc, idx_folder, tmp_path) -> None:
    out = tmp_path / "r" / "tta.json"
    assert gc.main(["tta", "--device", "cpu", "--quick", "--max-test", "30",
                    "--data", str(idx_folder), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["n"] == 30 and 0.0 <= r["accuracy"] <= 1.0 and r["wall"] > 0
    assert (tmp_path / "r" / "tta-run" / "fit").is_dir()  # under the results, not elsewhere
