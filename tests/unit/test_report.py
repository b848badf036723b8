"""Report plots and report.html from synthetic run folders (no training; the files are written by
the run folder's own writer, transferlab.results.runfolder)."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.report_synth import (
    CLASSES,
    data_summary,
    make_compare_run,
    make_fit_run,
    write_strategy,
)
from transferlab.results.report import (
    accuracy_vs_labels_plot,
    plots,
    write_report,
    write_report_safely,
)
from transferlab.results.report.rundata import ReportError, labels_per_class, load_run
from transferlab.results.runfolder import RunFolder

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_size: tuple[int, int] = (200, 150)) -> None:
    """A real, decodable PNG of a plausible size (not an empty or 1x1 placeholder)."""
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as im:
        im.load()
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1], im.size
        # not a blank canvas: a drawn plot has many distinct colours
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 8


@pytest.fixture()
def compare_run(tmp_path: Path) -> Path:
    return make_compare_run(tmp_path)


# -- reading run folders ---------------------------------------------------------------------
def test_load_run_detects_compare_and_fit(tmp_path: Path, compare_run: Path) -> None:
    run = load_run(compare_run)
    assert run.kind == "compare"
    assert [s.name for s in run.strategies] == ["linear-probe", "finetune", "lp-ft", "scratch"]
    assert run.strategies[0].classes == CLASSES
    assert run.environment["torch"] == "2.14.1"
    fit = load_run(make_fit_run(tmp_path))
    assert fit.kind == "fit" and fit.strategies[0].name == "lp-ft"
    assert fit.config["backbone"] == "efficientnet_lite0"  # the `config` part of the resolved file


def test_load_run_rejects_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="neither comparison.json"):
        load_run(tmp_path)


def test_truncated_history_line_is_dropped(tmp_path: Path) -> None:
    run = make_fit_run(tmp_path)
    with open(run / "history.jsonl", "a") as f:
        f.write('{"phase": "finetune", "epo')  # a run killed mid-write
    assert len(load_run(run).strategies[0].history) == 5


def test_labels_per_class_from_config_or_data(compare_run: Path) -> None:
    run = load_run(compare_run)
    assert labels_per_class(run) == 10
    run.config["per_class"] = None  # --per-class 0 (all): mean of train + val counts
    assert labels_per_class(run) == 10


# -- plots -----------------------------------------------------------------------------------
def test_phase_spans_count_epochs_over_the_whole_run() -> None:
    history = [{"phase": "probe", "epoch": 1}] + [{"phase": "finetune", "epoch": e}
                                                  for e in (1, 2, 3)]
    assert plots.phase_spans(history) == [("probe", 1, 1), ("finetune", 2, 4)]


def test_every_plot_renders_a_png(tmp_path: Path, compare_run: Path) -> None:
    run = load_run(compare_run)
    lp_ft = run.strategies[2]
    test = lp_ft.test
    assert_png(plots.learning_curves(lp_ft.history, tmp_path / "curves.png", "lp-ft"))
    assert_png(plots.learning_curves(run.strategies[0].history, tmp_path / "probe.png"))
    assert_png(plots.confusion_matrix(test["confusion_matrix"], CLASSES, tmp_path / "cm.png"))
    assert_png(plots.per_class_bars(test["per_class"], tmp_path / "pc.png"))
    assert_png(plots.wrong_grid(lp_ft.predictions, CLASSES, tmp_path / "wrong.png"))
    assert_png(plots.strategy_bars(run.comparison["rows"], "scratch", tmp_path / "bars.png"))


def test_wrong_grid_handles_rgb_and_grey_and_no_mistakes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for shape in [(3, 3, 20, 20), (2, 1, 20, 20), (1, 20, 20)]:
        preds = {"y_true": np.array([0, 1, 2]), "y_pred": np.array([1, 2, 0]),
                 "confidence": np.array([0.9, 0.8, 0.7]),
                 "wrong_index": np.arange(shape[0]),
                 "wrong_images": rng.integers(0, 255, shape, dtype=np.uint8)}
        assert_png(plots.wrong_grid(preds, CLASSES, tmp_path / f"w{len(shape)}.png"), (100, 100))
    perfect = {"y_true": np.array([0]), "y_pred": np.array([0]), "confidence": np.array([1.0]),
               "wrong_index": np.zeros(0, int), "wrong_images": np.zeros((0, 1, 8, 8), np.uint8)}
    assert plots.wrong_grid(perfect, CLASSES, tmp_path / "none.png") is None


def test_confusion_matrix_survives_an_empty_class_row(tmp_path: Path) -> None:
    cm = [[5, 1, 0], [0, 0, 0], [2, 0, 7]]  # a class absent from the test set
    assert_png(plots.confusion_matrix(cm, CLASSES, tmp_path / "cm.png"))


def test_accuracy_vs_labels_curve(tmp_path: Path) -> None:
    from transferlab.api.compare import ComparisonReport

    reports = []
    for per_class, gain in ((10, 0.1), (100, 0.05), (1000, 0.01)):
        rows = [{"strategy": "finetune", "accuracy": 0.6 + gain + per_class / 5000},
                {"strategy": "scratch", "accuracy": 0.6 + per_class / 5000}]
        reports.append((per_class, {"rows": rows}))
    # ComparisonReport objects work too, not only comparison.json dicts
    reports[1] = (100, ComparisonReport(reports[1][1]["rows"], "scratch", [], tmp_path))
    assert_png(plots.accuracy_vs_labels(reports, tmp_path / "curve.png"))


def test_accuracy_vs_labels_from_run_folders(tmp_path: Path) -> None:
    dirs = [make_compare_run(tmp_path, per_class=k, name=f"c{k}") for k in (5, 20, 80)]
    assert_png(accuracy_vs_labels_plot(dirs, tmp_path / "curve.png"))
    with pytest.raises(ReportError):
        accuracy_vs_labels_plot([make_fit_run(tmp_path)], tmp_path / "bad.png")


# -- report.html -----------------------------------------------------------------------------
def embedded_pngs(page: str) -> list[bytes]:
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', page)
    assert all(s.startswith("data:image/png;base64,") for s in srcs), "external image"
    return [base64.b64decode(s.split(",", 1)[1]) for s in srcs]


def test_compare_report_is_self_contained_and_ordered(compare_run: Path) -> None:
    out = write_report(compare_run)
    assert out == compare_run / "report.html"
    page = out.read_text()
    pngs = embedded_pngs(page)
    # strategy bars + 4 strategies x (curves, confusion, per-class, wrong grid)
    assert len(pngs) == 17 and all(p[:8] == PNG_MAGIC for p in pngs)
    assert len(list((compare_run / "plots").glob("*.png"))) == 17
    assert not re.search(r'(src|href)="(https?:|//)', page)
    assert "<script" not in page and "<link" not in page
    order = [page.index(s) for s in ("class='headline'", "Negative transfer", "<table",
                                     ">Plots<", "Resolved configuration", ">Data<",
                                     ">Environment<")]
    assert order == sorted(order), "sections out of order"
    assert "linear-probe is 0.3000 below scratch" in page
    assert "Best: finetune" in page and "+0.2833 vs scratch" in page
    assert "photos/Sneaker/broken.jpg" in page and "truncated JPEG" in page
    assert "Skipped bad files: 2" in page and "2.14.1" in page


def test_no_warning_box_without_negative_transfer(tmp_path: Path) -> None:
    run = make_compare_run(tmp_path, strategies=("finetune", "scratch"))
    page = write_report(run).read_text()
    assert "Negative transfer" not in page and "class=\"warn\"" not in page


def test_compare_without_scratch_says_gain_is_unknown(tmp_path: Path) -> None:
    run = make_compare_run(tmp_path, strategies=("linear-probe", "finetune"))
    page = write_report(run).read_text()
    assert "no scratch run in this comparison" in page


def test_fit_report(tmp_path: Path) -> None:
    run = make_fit_run(tmp_path)
    page = write_report(run).read_text()
    assert len(embedded_pngs(page)) == 4
    assert "Test metrics" in page and "lp-ft — test accuracy" in page
    assert "probe → finetune" in page


def test_report_from_a_partial_run(tmp_path: Path) -> None:
    """An interrupted run (no history, no predictions) still gets a report."""
    run = make_fit_run(tmp_path)
    (run / "history.jsonl").unlink()
    (run / "predictions.npz").unlink()
    page = write_report(run).read_text()
    assert len(embedded_pngs(page)) == 2  # confusion matrix + per-class bars


def test_regression_run(tmp_path: Path) -> None:
    run = tmp_path / "reg"
    run.mkdir()
    folder = RunFolder(run)
    folder.write_metrics("finetune", {"mae": 0.5, "rmse": 0.7, "r2": 0.8, "n": 20}, 2.0,
                         {"torch": "x"})
    folder.write_history({"phase": "finetune", "epoch": e, "train_loss": 1 / e,
                          "val": {"rmse": 1 / e}} for e in (1, 2, 3))
    y = np.linspace(0, 1, 20)
    folder.write_predictions({"y_true": y, "y_pred": y + 0.1})
    page = write_report(run).read_text()
    assert "test rmse 0.7000" in page and len(embedded_pngs(page)) == 2


def test_text_is_html_escaped(tmp_path: Path) -> None:
    run = make_fit_run(tmp_path)
    data = RunFolder(run).read_data()
    data["train"]["skipped_files"][0]["path"] = "<script>alert(1)</script>.jpg"
    RunFolder(run).write_data(data)
    page = write_report(run).read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_one_failing_plot_becomes_a_note(tmp_path: Path, monkeypatch) -> None:
    def broken(*_a, **_k):
        raise ValueError("boom")

    monkeypatch.setattr(plots, "per_class_bars", broken)
    run = make_fit_run(tmp_path)
    with pytest.warns(UserWarning, match="boom"):
        page = write_report(run).read_text()
    assert "plot not drawn" in page and "boom" in page
    assert len(embedded_pngs(page)) == 3


def test_safe_hook_warns_instead_of_raising(tmp_path: Path) -> None:
    logged: list[str] = []
    assert write_report_safely(tmp_path, logged.append) is None
    assert "report not written" in logged[0] and "transferlab report" in logged[0]
    run = write_strategy(tmp_path / "ok", "finetune", with_data=True).run_dir
    assert write_report_safely(run, logged.append) == run / "report.html"
    assert logged[-1].startswith("report: ")


def test_cli_report_command(tmp_path: Path, capsys) -> None:
    from transferlab.cli import main

    pair = ("finetune", "scratch")
    first = make_compare_run(tmp_path, pair, per_class=10, name="c10")
    other = make_compare_run(tmp_path, pair, per_class=50, name="c50")
    curve = tmp_path / "curve.png"
    assert main(["report", str(first), str(other), "--curve", str(curve)]) == 0
    out = capsys.readouterr().out
    assert f"report: {first / 'report.html'}" in out
    assert (other / "report.html").is_file()
    assert_png(curve)
    assert main(["report", str(tmp_path / "missing")]) == 2  # a clear error, no traceback


def fake_compare(tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """`compare()` with training replaced by synthetic strategy folders."""
    import transferlab.api.compare as cmp
    from transferlab.config import RunConfig

    class Splits:
        def summary(self) -> dict:
            return data_summary()

    def run_strategy(cfg, strategy, splits, run_dir, log):
        return write_strategy(run_dir, strategy)

    monkeypatch.setattr(cmp, "prepare_data", lambda cfg, log: Splits())
    monkeypatch.setattr(cmp, "run_strategy", run_strategy)
    logged: list[str] = []
    cfg = RunConfig(out=str(tmp_path), name="cmp", strategies=["finetune", "scratch"])
    report = cmp.compare(cfg, logged.append)
    return report.run_dir, logged


def test_compare_writes_its_report(tmp_path: Path, monkeypatch) -> None:
    run_dir, logged = fake_compare(tmp_path, monkeypatch)
    assert (run_dir / "report.html").is_file()
    assert f"report: {run_dir / 'report.html'}" in logged


def test_compare_survives_a_report_failure(tmp_path: Path, monkeypatch) -> None:
    import transferlab.results.report as report_pkg

    def broken(run_dir):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(report_pkg, "write_report", broken)
    run_dir, logged = fake_compare(tmp_path, monkeypatch)
    assert (run_dir / "comparison.json").is_file() and not (run_dir / "report.html").exists()
    assert any("report not written (RuntimeError: no fonts)" in line for line in logged)


def test_importing_the_report_package_leaves_matplotlib_alone() -> None:
    """The hook import in compare.py must not pull in (or reconfigure) matplotlib."""
    code = "import sys, transferlab.results.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_tensorboard_events_from_history(compare_run: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from transferlab.results.report.tensorboard import write_tensorboard

    root = write_tensorboard(compare_run)
    write_tensorboard(compare_run)  # a second run replaces the events instead of doubling them
    acc = EventAccumulator(str(root / "lp-ft"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/loss", "val/accuracy", "test/accuracy"} <= set(tags)
    assert [e.step for e in acc.Scalars("val/accuracy")] == [1, 2, 3, 4, 5]
    assert [e.step for e in acc.Scalars("train/loss")] == [2, 3, 4, 5]  # the probe has no loss
    assert len(list((root / "lp-ft").iterdir())) == 1
