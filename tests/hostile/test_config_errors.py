"""A bad setting is refused once, where the config is built: one line naming the flag or the
YAML line and the fix, exit 2, no traceback, and no run folder created."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.clihelp import cli, one_line_error
from transferlab.cli import main
from transferlab.config import RunConfig, SettingError, load_config
from transferlab.errors import ConfigError

# -- unit: RunConfig and load_config ---------------------------------------------------------


@pytest.mark.parametrize(("setting", "value", "words"), [
    ("lr", -1.0, "above 0"),
    ("lr", [1], "a number"),
    ("epochs", "ten", "an integer from 1 to 10000"),
    ("epochs", 2.5, "an integer"),
    ("epochs", True, "an integer"),
    ("image_size", 100000, "from 16 to 1024"),
    ("image_size", 8, "from 16 to 1024"),
    ("batch_size", -1, "from 1 to 65536"),
    ("per_class", -1, "at least 0"),
    ("val_fraction", 1.0, "at least 0 and below 1"),
    ("val_fraction", -0.1, "at least 0 and below 1"),
    ("test_fraction", 1.5, "above 0 and below 1"),
    ("lr", float("nan"), "a number"),
    ("strategy", "fine-tune", "must be one of"),
    ("strategies", ["finetune", "bogus"], "unknown strategy bogus"),
    ("bn", "sometimes", "frozen, train"),
    ("compile", "yes", "auto, on, off"),
    ("name", "../x", "one folder name inside --out"),
    ("name", "/abs/run", "one folder name inside --out"),
    ("name", "a/b", "one folder name inside --out"),
    ("name", "..", "one folder name inside --out"),
])
def test_runconfig_refuses_wrong_type_or_range(setting, value, words):
    with pytest.raises(SettingError) as err:
        RunConfig(**{setting: value})
    assert words in str(err.value)
    assert f"{setting}=" in str(err.value) and "e.g." in str(err.value)
    assert "\n" not in str(err.value)


def test_runconfig_normalises_what_it_accepts():
    cfg = RunConfig(lr="1e-3", epochs=3, weight_decay=0, strategies="head, scratch")
    assert cfg.lr == 0.001 and isinstance(cfg.weight_decay, float)
    assert cfg.strategies == ["head", "scratch"]


def test_load_config_names_the_flag_for_a_flag_value():
    with pytest.raises(ConfigError) as err:
        load_config(None, {"lr": -1.0})
    assert str(err.value) == ("--lr -1.0: must be a number above 0 and at most 10; "
                              "pass e.g. --lr 0.001 or leave the flag out")


def test_load_config_names_the_file_for_a_file_value(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("epochs: ten\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    assert str(err.value) == (f"{path}: epochs: 'ten' must be an integer from 1 to 10000; "
                              "write e.g. epochs: 10")


def test_load_config_yaml_syntax_error_gives_the_line(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("epochs: 2\nlr: [0.1\nseed: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    assert str(err.value).startswith(f"{path} line 3, column 5: YAML syntax error")


def test_load_config_flag_wins_over_a_bad_file_value(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("epochs: 3\nlr: 0.5\n")
    assert load_config(path, {"epochs": 4, "lr": None}).epochs == 4


def test_per_class_default_is_all_for_own_data_and_100_for_the_demo():
    assert RunConfig(data="photos").per_class == 0 and RunConfig(data="photos").per_class_budget \
        is None
    assert RunConfig().per_class == 100 and RunConfig(data="Fashion-MNIST").per_class == 100
    assert RunConfig(per_class=0).per_class_budget is None  # 0 still means all
    assert RunConfig(data="photos", per_class=7).per_class_budget == 7


# -- in-process CLI: the same path the command runs, every flag case -------------------------


@pytest.mark.parametrize(("flags", "message"), [
    (["--lr", "-1"], "error: --lr -1.0: must be a number above 0 and at most 10; pass e.g. "
                     "--lr 0.001 or leave the flag out"),
    (["--epochs", "-3"], "error: --epochs -3: must be an integer from 1 to 10000; pass e.g. "
                         "--epochs 10 or leave the flag out"),
    (["--batch-size", "-8"], "error: --batch-size -8: must be an integer from 1 to 65536; "
                             "pass e.g. --batch-size 64 or leave the flag out"),
    (["--per-class", "-1"], "error: --per-class -1: must be an integer of at least 0; pass "
                            "e.g. --per-class 20 or leave the flag out"),
    (["--val-fraction", "1"], "error: --val-fraction 1.0: must be a number at least 0 and "
                              "below 1; pass e.g. --val-fraction 0.1"),
    (["--strategy", "fine-tune"], "error: --strategy fine-tune: must be one of linear-probe, "
                                  "head, finetune, partial, gradual, lp-ft, lora, scratch; "
                                  "pass e.g. --strategy finetune"),
])
def test_fit_flag_out_of_range_is_one_line(flags, message, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["fit", *flags, "--data", str(tmp_path), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == message
    assert not out.exists()


def test_compare_unknown_strategy_is_one_line(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["compare", "--strategies", "finetune,bogus", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --strategies finetune,bogus: unknown strategy bogus; "
                          "choose from linear-probe, head, finetune")
    assert "\n" not in err and not out.exists()


# -- subprocess: what a user sees -------------------------------------------------------------


def _refused(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "runs"
    line = one_line_error(cli(*args, "--out", out, cwd=tmp_path))
    assert not out.exists()  # refused before any run folder was made
    return line


def test_yaml_syntax_error_in_config_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("epochs: 2\nlr: [0.1\nseed: 1\n")
    line = _refused(tmp_path, "fit", "--config", "bad.yaml")
    assert line.startswith("error: bad.yaml line 3, column 5: YAML syntax error (")
    assert line.endswith("fix that line (`setting: value`, one per line, spaces not tabs)")


def test_yaml_type_error_in_config_file(tmp_path):
    (tmp_path / "cfg.yaml").write_text("epochs: ten\n")
    line = _refused(tmp_path, "fit", "--config", "cfg.yaml")
    assert line == "error: cfg.yaml: epochs: 'ten' must be an integer from 1 to 10000; " \
                   "write e.g. epochs: 10"


def test_yaml_list_for_a_number(tmp_path):
    (tmp_path / "cfg.yaml").write_text("lr: [1]\n")
    line = _refused(tmp_path, "compare", "--config", "cfg.yaml")
    assert line == "error: cfg.yaml: lr: [1] must be a number above 0 and at most 10; " \
                   "write e.g. lr: 0.001"


def test_negative_lr_flag(tmp_path):
    line = _refused(tmp_path, "fit", "--lr", "-1", "--data", tmp_path)
    assert line.startswith("error: --lr -1.0: must be a number above 0")


def test_huge_image_size_flag(tmp_path):
    line = _refused(tmp_path, "compare", "--image-size", "100000", "--data", tmp_path)
    assert line == ("error: --image-size 100000: must be an integer from 16 to 1024; pass e.g. "
                    "--image-size 224 or leave the flag out")


def test_a_runs_own_config_yaml_is_a_valid_config_file(tmp_path):
    """`--config runs/x/config.yaml` repeats that run: its settings sit under `config:`."""
    from transferlab.config import load_config
    from transferlab.results.runfolder import RunFolder

    saved = load_config(None, {"data": str(tmp_path), "epochs": 3, "lr": 0.01})
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.write_config(saved.to_dict(), recipe={"epochs": 3})
    again = load_config(run.path / "config.yaml", {"seed": 7})
    assert (again.epochs, again.lr, again.seed, again.data) == (3, 0.01, 7, str(tmp_path))
