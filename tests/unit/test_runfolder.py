"""The run folder's one writer and reader: every file round-trips, config.yaml has one shape,
history appends survive a killed write, and a missing or damaged file is a one-line error
naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from transferlab.config import RunConfig
from transferlab.errors import CheckpointError
from transferlab.results import runfolder as rf
from transferlab.results.runfolder import RunFolder, saved_config


@pytest.fixture()
def folder(tmp_path: Path) -> RunFolder:
    return RunFolder(tmp_path)


def test_config_yaml_always_has_the_settings_under_config(folder: RunFolder) -> None:
    settings = RunConfig(data="photos", epochs=2).to_dict()
    path = folder.write_config(settings, recipe={"image_size": (3, 64)}, phases=[{"name": "a"}])
    raw = yaml.safe_load(path.read_text())
    assert list(raw) == ["config", "recipe", "phases"]  # settings first, sections after
    assert raw["config"] == settings
    assert raw["recipe"] == {"image_size": [3, 64]}  # tuples stored as plain lists
    assert folder.settings() == settings and folder.read_config() == raw
    assert RunConfig(**folder.settings()).epochs == 2  # what --resume rebuilds


def test_json_files_round_trip(folder: RunFolder) -> None:
    summary = {"train": {"classes": ["a", "b"], "class_counts": {"a": 3, "b": 4}}}
    assert folder.write_data(summary) == folder.path / "data.json"
    assert folder.read_data() == summary
    folder.write_metrics("head", {"accuracy": 0.5, "per_class": []}, 1.5, {"torch": "x"})
    assert folder.read_metrics() == {"strategy": "head", "test": {"accuracy": 0.5,
                                                                  "per_class": []},
                                     "wall_seconds": 1.5, "environment": {"torch": "x"}}
    assert folder.test_metrics() == {"accuracy": 0.5, "per_class": []}
    table = {"rows": [{"strategy": "head", "accuracy": 0.5}], "baseline": None}
    folder.write_comparison(table)
    assert folder.read_comparison() == table
    ranking = {"winner": "a", "rows": [{"backbone": "a"}]}
    assert folder.write_ranking(ranking) == folder.path / "ranking.json"
    assert folder.read_ranking() == ranking
    assert not list(folder.path.glob("*.tmp*"))  # atomic writes leave no temporary files


def test_history_appends_replaces_and_drops_a_half_written_line(folder: RunFolder) -> None:
    rows = [{"phase": "finetune", "epoch": e, "train_loss": 1 / e} for e in (1, 2)]
    assert folder.read_history() == []  # no file yet: no rows
    for row in rows:
        folder.append_history(row)
    assert folder.read_history() == rows
    with open(folder.history_path, "a") as f:
        f.write('{"phase": "finetune", "epo')  # a run killed mid-write
    assert folder.read_history() == rows
    folder.write_history(rows[:1])  # a resume restarts from its checkpoint's rows
    assert rf.read_history(folder.history_path) == rows[:1]
    folder.start_history()
    assert not folder.history_path.exists()


def test_predictions_round_trip(folder: RunFolder) -> None:
    arrays = {"y_true": np.array([0, 1, 2]), "y_pred": np.array([0, 2, 2]),
              "confidence": np.array([0.9, 0.6, 0.8], np.float32),
              "wrong_images": np.zeros((1, 3, 4, 4), np.uint8)}
    folder.write_predictions(arrays)
    back = folder.read_predictions()
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v)


def test_hashes_round_trip_and_a_damaged_file_only_loses_the_warning(folder: RunFolder) -> None:
    assert folder.read_hashes() is None
    hashes = np.array([1, 2, 2**63], dtype="<u8")
    folder.write_hashes(hashes, (3, 32, 32))
    got, shape = folder.read_hashes()
    assert np.array_equal(got, hashes) and shape == (3, 32, 32)
    (folder.path / rf.HASHES).write_bytes(b"not a zip")
    assert folder.read_hashes() is None


@pytest.mark.parametrize("read, name", [
    (lambda f: f.read_config(), "config.yaml"), (lambda f: f.settings(), "config.yaml"),
    (lambda f: f.read_data(), "data.json"), (lambda f: f.read_metrics(), "metrics.json"),
    (lambda f: f.read_predictions(), "predictions.npz"),
    (lambda f: f.read_comparison(), "comparison.json"),
    (lambda f: f.read_ranking(), "ranking.json"),
])
def test_a_missing_required_file_is_one_line_naming_it(folder: RunFolder, read,
                                                      name: str) -> None:
    with pytest.raises(CheckpointError) as err:
        read(folder)
    message = str(err.value)
    assert message.startswith(f"{folder.path / name}: no such file; ") and "\n" not in message


def test_missing_optional_files_read_as_empty(folder: RunFolder) -> None:
    assert folder.read_config(required=False) == {} and folder.settings(required=False) == {}
    assert folder.read_data(required=False) is None
    assert folder.read_metrics(required=False) is None
    assert folder.test_metrics(required=False) is None
    assert folder.read_predictions(required=False) is None
    assert folder.read_comparison(required=False) is None


def test_damaged_files_are_errors_naming_them(folder: RunFolder) -> None:
    (folder.path / "metrics.json").write_text('{"test": ')
    with pytest.raises(CheckpointError, match=r"metrics.json is not valid JSON \("):
        folder.read_metrics(required=False)
    (folder.path / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(CheckpointError, match="config.yaml is not a readable run config"):
        folder.read_config()
    (folder.path / "config.yaml").write_text("colour: blue\n")  # no `config:` section
    with pytest.raises(CheckpointError, match="has no `config:` section"):
        folder.settings()
    assert folder.settings(required=False) == {}
    (folder.path / "predictions.npz").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="predictions.npz is not a readable"):
        folder.read_predictions()


def test_saved_config_reads_only_the_config_section(tmp_path: Path) -> None:
    """`fit --resume` rebuilds the RunConfig from config.yaml's `config:` and nothing else."""
    folder = RunFolder(tmp_path)
    folder.write_config(RunConfig(data="photos", epochs=3).to_dict())
    with pytest.raises(CheckpointError, match="no checkpoint/LATEST to resume from"):
        saved_config(tmp_path)  # the settings were read; nothing to resume from yet
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"data": "photos", "epochs": 3}))
    with pytest.raises(CheckpointError, match=r"is not a config this version can resume "
                                              r"\(no `config:` section\); start a new fit$"):
        saved_config(tmp_path)  # the old flat shape is not guessed at


def test_every_writer_uses_the_module_file_names(folder: RunFolder) -> None:
    folder.write_config({})
    folder.write_data({})
    folder.write_metrics("s", {}, 0.0, {})
    folder.append_history({})
    folder.write_predictions({"y_true": np.zeros(1)})
    folder.write_comparison({})
    folder.write_ranking({})
    folder.write_hashes(np.zeros(1, "<u8"), (1,))
    names = {rf.CONFIG, rf.DATA, rf.METRICS, rf.HISTORY, rf.PREDICTIONS, rf.COMPARISON,
             rf.RANKING, rf.HASHES}
    assert {p.name for p in folder.path.iterdir()} == names
