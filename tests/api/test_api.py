"""The Python API: what fit/compare/evaluate/predict return matches the run folder and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import transferlab
from tests.conftest import write_folder
from transferlab import Comparison, ConfigError, Run, compare, evaluate, fit, predict
from transferlab.config import SettingError

TINY = {"image_size": 32, "epochs": 1, "batch_size": 8, "device": "cpu", "per_class": 0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("api") / "imgs", classes=3, per_class=8)


@pytest.fixture(scope="module")
def run(tiny) -> Run:
    return fit(tiny, strategy="linear-probe", out=tiny.parent / "runs", name="fit", log=None,
               **TINY)


def test_package_docstring_import_works():
    assert "from transferlab import fit" in transferlab.__doc__
    assert callable(fit) and callable(compare)


def test_fit_returns_the_run_folders_metrics(run):
    saved = json.loads((run.run_dir / "metrics.json").read_text())
    assert run.run_dir.name == "fit" and run.strategy == "linear-probe"
    assert run.metrics == saved["test"]
    assert run.wall_seconds == saved["wall_seconds"]
    assert Run.load(run.run_dir).metrics == run.metrics


def test_run_table_and_summary_show_the_test_metrics(run):
    text = str(run)
    assert text == run.table()
    assert text.splitlines()[0].split() == ["strategy", "linear-probe"]
    lo, hi = run.metrics["ci95"]["accuracy"]
    line = f"{'accuracy':<20}{run.metrics['accuracy']:.4f} [{lo:.3f}, {hi:.3f}]"
    assert line in text.splitlines()  # each metric with its 95% interval
    assert "bootstrap over" in text.splitlines()[-1]
    assert run.summary()["test"]["accuracy"] == round(run.metrics["accuracy"], 4)
    assert run.summary()["ci95"]["accuracy"] == [round(lo, 4), round(hi, 4)]


def test_model_is_loaded_lazily_once(run):
    fresh = Run.load(run.run_dir)
    assert fresh._model is None
    model = fresh.model
    assert model is fresh.model and model.info.classes == ["class_0", "class_1", "class_2"]


def test_evaluate_and_predict_take_a_run(run, tiny):
    metrics = evaluate(run, tiny, split="train", device="cpu", warn=None)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and "macro_f1" in metrics
    rows = predict(run, tiny / "class_0", top_k=2, device="cpu")
    assert len(rows) == 8 and all(len(r["top"]) == 2 for r in rows)
    same = predict(run.model, [str(p) for p in sorted((tiny / "class_0").iterdir())], top_k=2,
                   device="cpu")
    assert [r["top"] for r in same] == [r["top"] for r in rows]


@pytest.mark.parametrize("settings, named", [
    ({"lr": -1.0}, "lr"),
    ({"epochs": "three"}, "epochs"),
    ({"strategy": "finetuning"}, "strategy"),
])
def test_a_bad_setting_is_a_config_error_naming_it(tiny, settings, named):
    with pytest.raises(ConfigError, match=rf"RunConfig {named}=") as info:
        fit(tiny, log=None, **settings)
    assert isinstance(info.value, SettingError) and info.value.name == named


def test_an_unknown_setting_is_a_config_error_listing_valid_ones(tiny):
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) epoch; valid: .*epochs"):
        fit(tiny, epoch=1, log=None)


def test_nothing_is_written_for_a_bad_setting(tmp_path, tiny):
    with pytest.raises(ConfigError):
        compare(tiny, strategies="linear-probe,finetuned", out=tmp_path, log=None)
    assert list(tmp_path.iterdir()) == []


def test_compare_rows_runs_and_table_match_the_cli(tiny):
    from transferlab.api.compare import format_table

    result = compare(tiny, strategies=["linear-probe", "scratch"], out=tiny.parent / "runs",
                     name="cmp", log=None, **TINY)
    assert isinstance(result, Comparison)
    assert [r["strategy"] for r in result.rows] == ["linear-probe", "scratch"]
    assert set(result.runs) == {"linear-probe", "scratch"}
    for name, sub in result.runs.items():
        saved = json.loads((result.run_dir / name / "metrics.json").read_text())
        assert sub.metrics == saved["test"] and sub.run_dir == result.run_dir / name
    assert result.table() == format_table(result.report)
    assert result.table().splitlines()[0].split()[:2] == ["strategy", "accuracy"]
    assert "baseline" in result.table()
    saved = json.loads((result.run_dir / "comparison.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(result.rows))
    assert result.best.strategy in result.runs


def test_resume_of_a_finished_run_says_there_is_nothing_to_resume(run):
    from transferlab.errors import CheckpointError

    with pytest.raises(CheckpointError, match="nothing to resume"):
        fit(resume=run.run_dir, log=None)


def test_report_redraws_the_run_folders_page(run):
    from transferlab import report

    page = report(run)
    assert page == run.run_dir / "report.html" and page.stat().st_size > 0
    assert report([run.run_dir]) == [page]


def test_api_names_are_not_shadowed_by_subpackages():
    """`import transferlab.X` binds X on the package: no subpackage may share an API name
    (a `transferlab.rank` package once turned `from transferlab import rank` into a module)."""
    import importlib
    import pkgutil

    import transferlab

    for info in pkgutil.walk_packages(transferlab.__path__, "transferlab."):
        if not info.name.startswith("transferlab.cli") and "__main__" not in info.name:
            importlib.import_module(info.name)
    for name in ("fit", "compare", "rank", "evaluate", "predict", "export", "report"):
        assert callable(getattr(transferlab, name)), name
        assert not isinstance(getattr(transferlab, name), type(transferlab)), name
