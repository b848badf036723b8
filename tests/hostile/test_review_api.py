"""Review findings on the config / API side (issues 15, 16): each bad input is refused in one
line before anything is decoded or written, and the Python API and the CLI share one rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import write_folder
from tests.hostile.clihelp import cli, one_line_error, snapshot
from transferlab import config
from transferlab.api.resume import RESUME_MAY_CHANGE
from transferlab.api.saved import evaluate
from transferlab.api.workflows import make_config, rank_config
from transferlab.config import RecipeError, RunConfig, SettingError, load_config
from transferlab.errors import ConfigError, DataError

# -- 1: recipe: entries are checked like their flags, before any decode ----------------------


def _yaml(tmp_path: Path, settings: dict) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.mark.parametrize(("recipe", "line"), [
    ({"image_size": 100000}, "recipe.image_size: 100000 must be an integer from 16 to 1024; "
                             "write e.g. recipe: {image_size: 224}"),
    ({"lr": -1}, "recipe.lr: -1 must be a number above 0 and at most 10; "
                 "write e.g. recipe: {lr: 0.001}"),
    ({"bn": "sometimes"}, "recipe.bn: 'sometimes' must be one of frozen, train; "
                          "write e.g. recipe: {bn: frozen}"),
])
def test_recipe_value_out_of_range_names_recipe_key_and_file(tmp_path, recipe, line):
    path = _yaml(tmp_path, {"recipe": recipe})
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    assert str(err.value) == f"{path}: {line}"


def test_recipe_unknown_key_is_refused_when_the_config_is_built(tmp_path):
    path = _yaml(tmp_path, {"recipe": {"warmup": 0.2}})
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    assert str(err.value).startswith(f"{path}: recipe.warmup: 0.2 is not a recipe setting; "
                                     "remove it or use one of image_size, epochs, ")
    assert "warmup_frac" in str(err.value) and "\n" not in str(err.value)


def test_recipe_values_are_normalised_and_python_names_the_key():
    assert RunConfig(recipe={"lr": "1e-3", "shift": 1.0}).recipe == {"lr": 0.001, "shift": 1.0}
    with pytest.raises(RecipeError) as err:
        make_config(recipe={"image_size": 100000})
    assert str(err.value) == ("RunConfig recipe.image_size=100000: must be an integer from 16 "
                              "to 1024; e.g. recipe={'image_size': 224}")


def test_fit_cli_recipe_image_size_is_one_line_and_writes_nothing(tmp_path):
    data = write_folder(tmp_path / "imgs", classes=2, per_class=3)
    path = _yaml(tmp_path, {"data": str(data), "recipe": {"image_size": 100000}})
    out = tmp_path / "runs"
    proc = cli("fit", "--config", path, "--out", out, "--device", "cpu")
    assert one_line_error(proc) == (f"error: {path}: recipe.image_size: 100000 must be an "
                                    "integer from 16 to 1024; write e.g. recipe: "
                                    "{image_size: 224}")
    assert not out.exists()


# -- 4: one config builder for the CLI and the Python API -------------------------------------


def test_make_config_and_load_config_are_one_builder(tmp_path, monkeypatch):
    calls = []
    real = config.load_config

    def spy(path, overrides, **kw):
        calls.append(kw)
        return real(path, overrides, **kw)

    monkeypatch.setattr("transferlab.api.workflows.load_config", spy)
    cfg = make_config(data=tmp_path, out=tmp_path / "runs")
    assert (cfg.data, cfg.out) == (str(tmp_path), str(tmp_path / "runs"))
    assert calls == [{"named_as": "setting"}]


def test_where_a_bad_value_came_from_decides_its_wording(tmp_path):
    with pytest.raises(SettingError) as err:  # Python: the keyword
        make_config(lr=-1)
    assert str(err.value) == ("RunConfig lr=-1: must be a number above 0 and at most 10; "
                              "e.g. lr=0.001")
    path = _yaml(tmp_path, {"epochs": 0})
    for build in (lambda: make_config(path), lambda: load_config(path, {})):  # the file line
        with pytest.raises(ConfigError) as err:
            build()
        assert str(err.value) == (f"{path}: epochs: 0 must be an integer from 1 to 10000; "
                                  "write e.g. epochs: 10")
    with pytest.raises(ConfigError) as err:  # an unknown keyword is not blamed on the file
        load_config(path, {"bogus": 1})
    assert str(err.value).startswith("unknown setting(s) bogus; valid: ")


# -- 2: evaluate reads data as the model's task, with fit's path rules -----------------------


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory) -> tuple[Path, Path]:
    """A 1-epoch regression model on images/targets.csv, and an outside CSV naming its images."""
    from transferlab import fit

    root = tmp_path_factory.mktemp("regr")
    images = write_folder(root / "images", classes=3, per_class=8)
    rows = [f"class_{c}/img_{i:03d}.png,{c + i / 10}" for c in range(3) for i in range(8)]
    (images / "targets.csv").write_text("path,target\n" + "\n".join(rows) + "\n")
    run = fit(images / "targets.csv", strategy="head", task="regression", image_size=32,
              epochs=1, batch_size=8, device="cpu", out=root / "runs", name="r", log=None)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    outside = elsewhere / "targets.csv"
    outside.write_text("path,target\n" + "\n".join(f"{images / r}" for r in rows) + "\n")
    return run.run_dir, outside


def test_evaluate_regression_model_on_its_csv(regression_run):
    run_dir, _ = regression_run
    metrics = evaluate(run_dir, run_dir.parent.parent / "images" / "targets.csv",
                       split="train", device="cpu", warn=None)
    assert "rmse" in metrics and "accuracy" not in metrics


def test_evaluate_allow_outside_reads_rows_outside_the_csv_folder(regression_run):
    run_dir, outside = regression_run
    with pytest.raises(DataError):  # every row is outside: listed as bad, none left
        evaluate(run_dir, outside, device="cpu", warn=None)
    metrics = evaluate(run_dir, outside, device="cpu", allow_outside=True, warn=None)
    assert "rmse" in metrics


def test_evaluate_cli_allow_outside_paths_flag(regression_run):
    run_dir, outside = regression_run
    proc = cli("evaluate", run_dir, "--data", outside, "--device", "cpu",
               "--allow-outside-paths")
    assert proc.returncode == 0, proc.stderr
    assert '"rmse"' in proc.stdout


@pytest.mark.parametrize(("kw", "line"), [
    ({"split": "val"}, "split 'val': must be 'train' or 'test' (--split train|test)"),
    ({"on_bad": "ignore"}, "on_bad 'ignore': must be 'skip' or 'error' (--on-bad-file)"),
])
def test_evaluate_refuses_bad_split_before_loading_anything(tmp_path, kw, line):
    with pytest.raises(ConfigError) as err:  # the model does not exist: not even looked at
        evaluate(tmp_path / "no-such-run", "shapes", **kw)
    assert str(err.value) == line


# -- 3: predict --output DIR is one line before predicting -----------------------------------


def test_predict_output_folder_is_refused_before_predicting(tmp_path):
    before = snapshot(tmp_path)
    proc = cli("predict", tmp_path / "no-such-run", tmp_path / "x.png", "--format", "csv",
               "--output", tmp_path)
    assert one_line_error(proc) == (f"error: --output {tmp_path} is a folder; give a file "
                                    f"name, e.g. --output {tmp_path / 'predictions.csv'}")
    assert snapshot(tmp_path) == before


# -- 5: dead code is gone --------------------------------------------------------------------


def test_dead_code_removed():
    import inspect

    from transferlab.deploy import predict

    assert not hasattr(config, "write_yaml")
    assert "UnidentifiedImageError" not in inspect.getsource(predict)


# -- 6: rank checks sort_by before the run folder and the decode ------------------------------


def test_rank_sort_by_not_scored_is_refused_before_the_run_folder(tmp_path):
    cfg = RunConfig(data=str(tmp_path / "not-decoded"), out=str(tmp_path / "runs"),
                    device="cpu")
    with pytest.raises(ConfigError) as err:
        rank_config(cfg, "efficientnet_lite0", "logme,knn", sort_by="leep", log=None)
    assert str(err.value) == ("sort_by 'leep' (--sort-by): must be one of the estimators "
                              "scored, logme, knn")
    assert not (tmp_path / "runs").exists()


# -- 7: the docs name every setting a resume may change --------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def test_api_docs_name_every_setting_a_resume_may_change():
    para = next(p for p in DOCS.read_text().split("\n\n") if 'fit(resume="runs/NAME")' in p)
    assert [name for name in RESUME_MAY_CHANGE if f"`{name}`" not in para] == []
