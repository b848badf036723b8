"""`transferlab check` end to end, and the check inside `fit` (data.json "health")."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import class_image, write_folder
from tests.unit.test_health import shape_image


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "transferlab", *args], capture_output=True,
                          text=True, timeout=300)


def planted(root: Path) -> tuple[Path, Path, Path]:
    """DIR/train + DIR/test; one train image copied in train, one leaked (as JPEG) into test."""
    write_folder(root / "train", classes=2, per_class=6)
    for c in range(2):
        (root / "test" / f"class_{c}").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(class_image(c, 100 + i)).save(root / "test" / f"class_{c}" /
                                                          f"t{i}.png")
    dup = root / "train" / "class_0" / "copy.png"
    shutil.copy(root / "train" / "class_0" / "img_002.png", dup)
    original = root / "train" / "class_1" / "photo.png"
    Image.fromarray(shape_image(5, 32)).convert("RGB").save(original)
    leak = root / "test" / "class_1" / "leak.jpg"
    Image.open(original).resize((48, 48)).save(leak, quality=85)  # larger, re-encoded
    return dup, leak, original


def test_check_names_the_duplicate_and_the_leak(tmp_path):
    dup, leak, original = planted(tmp_path / "d")
    out = tmp_path / "health.json"
    proc = cli("check", "--data", str(tmp_path / "d"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "exact duplicates in train: 1 pairs, 2 images" in text
    assert str(dup) in text and str(leak) in text and str(original) in text
    assert "train↔test near-duplicate pairs (leakage): 1 pairs, 1 images" in text
    saved = json.loads(out.read_text())
    assert saved["findings"]["near_leak"]["examples"][0][:2] == [str(original), str(leak)]
    assert saved["classes"]["counts"] == {"class_0": 7, "class_1": 7}


def test_check_bad_data_is_one_line_exit_2(tmp_path):
    proc = cli("check", "--data", str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and str(tmp_path / "missing") in proc.stderr
    proc = cli("check", "--data", str(tmp_path), "--min-similarity", "1.5")
    assert proc.returncode == 2 and "--min-similarity 1.5" in proc.stderr


@pytest.mark.slow
def test_fit_records_health_in_data_json(tmp_path):
    from transferlab import fit

    root = write_folder(tmp_path / "imgs", classes=3, per_class=8)
    shutil.copy(root / "class_2" / "img_001.png", root / "class_2" / "again.png")
    lines: list[str] = []
    run = fit(root, strategy="linear-probe", out=tmp_path / "runs", name="fit",
              log=lines.append, image_size=32, epochs=1, batch_size=8, device="cpu",
              per_class=0)
    data = json.loads((run.run_dir / "data.json").read_text())
    health = data["health"]
    assert health["findings"]["exact_train"]["pairs"] + \
        health["findings"]["exact_leak"]["pairs"] == 1
    assert health["train"] + health["test"] == 25
    assert any(line.startswith("check: 1 ") for line in lines)
    report = (run.run_dir / "report.html").read_text()
    assert "Data health" in report and str(root / "class_2" / "again.png") in report
    learned = {c: n + ((data["val"] or {}).get("class_counts") or {}).get(c, 0)
               for c, n in data["train"]["class_counts"].items()}
    assert health["classes"]["counts"] == learned  # train + validation: what the model saw
