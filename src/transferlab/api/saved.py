"""Working with a trained model: evaluate, predict, export, report.

Each takes what a user has at hand: a Run from `fit`, a run folder or model.safetensors path,
or a TransferModel object (predict also takes an exported .onnx / .pt with its sidecar).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab.api.objects import Comparison, Run
from transferlab.errors import ConfigError, DataError

if TYPE_CHECKING:
    from transferlab.deploy.export import ExportResult
    from transferlab.model import TransferModel

    # what every call here accepts as "the model" (annotations only: never evaluated)
    ModelLike = Run | Comparison | str | Path | TransferModel


def _where(model: ModelLike) -> str | Path | None:
    """The path a model-like value names (None for a model object held in memory)."""
    if isinstance(model, Comparison):
        model = model.best
    if isinstance(model, Run):
        return model.run_dir
    return model if isinstance(model, str | Path) else None


def _load(model: ModelLike) -> tuple[TransferModel, Path | None]:
    if isinstance(model, Comparison):
        model = model.best
    if isinstance(model, Run):
        return model.model, model.run_dir
    path = _where(model)
    if path is None:
        return model, None
    from transferlab.model import load_model

    return load_model(path), Path(path)


def check_output(output: str | Path | None, example: str = "metrics.json",
                 what: str = "the metrics") -> None:
    """Refuse an output file that cannot be written before the (possibly long) work runs.

    evaluate and `transferlab predict` share it, so --output means the same in both.
    """
    if output is None:
        return
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"--output {output} is a folder; give a file name, e.g. --output "
                          f"{path / example}")
    if not path.parent.is_dir():
        raise ConfigError(f"--output {output}: folder {path.parent} does not exist; create it "
                          f"or write {what} elsewhere")


def decode_size(model: TransferModel, model_path: str | Path | None) -> int:
    """The size the model's training images were stored at, so pixels (and hashes) match."""
    from transferlab.results.overlap import load_training_hashes

    if "decode_size" in model.info.extra:
        return model.info.decode_size
    saved = load_training_hashes(model_path) if model_path is not None else None
    return saved[1][-1] if saved else model.info.image_size


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def evaluate(model: ModelLike, data: str | Path = "fashion-mnist", *, split: str = "test",
             device: str = "auto", output: str | Path | None = None,
             allow_outside: bool = False, on_bad: str = "skip",
             warn: Callable[[str], object] | None = _stderr) -> dict:
    """Test metrics of a trained model on labelled data (same forms as fit's `data`).

    `split` picks the train or test part of an IDX dataset or DIR/{train,test} folder. A
    warning (to `warn`) says when test images also appear in the model's training set.
    `output` also writes the full metrics JSON there. `allow_outside` and `on_bad` mean what
    fit's allow_outside_paths and on_bad_file do, so data that fit accepted evaluates too.
    """
    from transferlab.api.runner import prediction_vectors
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.calibrate import calibration_metrics, saved_fit
    from transferlab.engine.device import resolve_device
    from transferlab.engine.loop import metrics_from_logits, predict_logits
    from transferlab.results.overlap import overlap_warning
    from transferlab.results.stats import metric_intervals

    if split not in ("train", "test"):
        raise ConfigError(f"split {split!r}: must be 'train' or 'test' (--split train|test)")
    if on_bad not in ("skip", "error"):
        raise ConfigError(f"on_bad {on_bad!r}: must be 'skip' or 'error' (--on-bad-file)")
    check_output(output)
    net, path = _load(model)
    dataset = _labelled(str(data), split, net, decode_size(net, path), allow_outside, on_bad)
    warning = overlap_warning(dataset, str(path)) if path is not None else None
    if warning and warn is not None:
        warn(warning)
    dev = resolve_device(device)
    pre = Preprocess.from_spec(net.spec, net.info.image_size)
    logits = predict_logits(net.to(dev), dataset, pre, dev, desc="evaluate")
    metrics = metrics_from_logits(logits, dataset)
    metrics.update(calibration_metrics(logits, dataset, saved_fit(net)))  # ECE before/after T
    metrics["ci95"] = metric_intervals(  # 95% bootstrap intervals over these images
        *prediction_vectors(logits, dataset),
        None if dataset.is_regression else len(dataset.classes))
    if output is not None:
        Path(output).write_text(json.dumps(metrics, indent=2))
    return metrics


def _labelled(data: str, split: str, net: TransferModel, size: int, allow_outside: bool,
              on_bad: str):
    """The split to evaluate on, read as the model's task (a regression CSV has no classes)."""
    from transferlab.data import load_dataset

    def load(part: str):
        return load_dataset(data, part, size, on_bad=on_bad, task=net.info.task,
                            allow_outside=allow_outside)

    dataset = load(split)
    if dataset is None:  # a source without a test part: its one split
        dataset = load("train")
    if dataset is None:
        raise DataError(f"{data} has no {split} split")
    if not dataset.is_regression and dataset.classes != net.info.classes:
        raise DataError(f"classes of {data} {dataset.classes} differ from the model's "
                        f"{net.info.classes}")
    if hasattr(dataset, "prepare_for"):  # text: tokenise as the model was trained
        dataset.prepare_for(net)
    return dataset


def predict(model: ModelLike, inputs: str | Path | Sequence[str | Path], *, top_k: int = 3,
            device: str = "auto", batch_size: int = 64) -> list[dict]:
    """Top-k classes per input: image files, folders, CSVs of paths (or texts for a text model).

    One dict per input; a bad file is a row with an `error`, not an exception, so one corrupt
    image does not stop a batch.
    """
    from transferlab.deploy.predict import predict_files, predict_path

    if top_k < 1 or batch_size < 1:
        raise ConfigError("--top-k and --batch-size must be at least 1")
    items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    items = [str(i) for i in items]
    path = _where(model)
    if path is None:
        from transferlab.engine.device import resolve_device  # torch: not for an export

        return predict_files(model, items, top_k, resolve_device(device), batch_size)
    return predict_path(path, items, top_k, device, batch_size)


def export(model: ModelLike, format: str = "onnx", *, out: str | Path | None = None,
           name: str = "model", images: Sequence[str | Path] = (),
           tolerance: float = 1e-3, texts: Sequence[str] = ()) -> ExportResult:
    """ONNX / TorchScript / safetensors + a JSON sidecar, reloaded and checked against PyTorch.

    `out` defaults to RUN/export (required for a model object). An export whose logits differ
    by more than `tolerance` is removed and ExportError says by how much. `images` (image
    models) or `texts` (text models, whose tokenizer folder is written beside the export) are
    checked on top of the built-in parity inputs.
    """
    from transferlab.deploy.export import export_model

    source = _where(model) or model
    return export_model(source, format, out, images=list(images), tolerance=tolerance,
                        name=name, texts=list(texts))


def report(run_dirs: str | Path | Sequence[str | Path], *, curve: str | Path | None = None,
           tensorboard: bool = False,
           log: Callable[[str], object] | None = None) -> Path | list[Path]:
    """(Re)write RUN/report.html (plots, tables, config, data, environment) of run folders.

    One folder gives its report's path, several a list. `curve`: also plot test accuracy
    against labels per class of several compare runs into that PNG. `tensorboard`: also write
    TensorBoard event files to RUN/tensorboard/.
    """
    from transferlab.results.report import accuracy_vs_labels_plot, write_report

    single = isinstance(run_dirs, str | Path | Run | Comparison)
    dirs = [Path(d.run_dir if isinstance(d, Run | Comparison) else d)
            for d in ([run_dirs] if single else run_dirs)]
    log = log or (lambda _line: None)
    pages = []
    for d in dirs:
        pages.append(write_report(d))
        log(f"report: {pages[-1]}")
        if tensorboard:
            from transferlab.results.report.tensorboard import write_tensorboard

            log(f"tensorboard: tensorboard --logdir {write_tensorboard(d)}")
    if curve:
        log(f"accuracy vs labels per class: {accuracy_vs_labels_plot(dirs, Path(curve))}")
    return pages[0] if single else pages
