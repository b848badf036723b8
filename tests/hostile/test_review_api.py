"""Review findings on the config / API side (issues 15, 16): each bad input is refused in one
line before anything is decoded or written, and the Python API and the CLI share one rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import write_folder
from tests.hostile.clihelp import cli, one_line_error
from transferlab import config
from transferlab.api.workflows import make_config, rank_config
from transferlab.config import RecipeError, RunConfig, SettingError, load_config
from transferlab.errors import ConfigError

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

