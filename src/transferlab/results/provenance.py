"""Where a backbone came from, when it is a transferlab run: the chain source → target.

A run folder used as `--backbone` is the "pretrain" half of pretrain → transfer. The target
run records which run that was (path), what it trained on (data name + a fingerprint of the
data), how (strategy) and how well (its test accuracy), read from the source's own files:
config.yaml, data.json and metrics.json. The source's own source, if it had one, is kept
nested, so a chain of chains stays traceable.

The data fingerprint is a short sha256 of the training (+ validation) split's content hashes
(images or texts, labels, class names: `ImageSet.fingerprint`), written into every run's
data.json. Runs saved before that field existed fall back to a hash of their per-image
digests (train_hashes.npz) plus data.json's training classes and class counts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from transferlab.results.runfolder import DATA, METRICS, MODEL, RunFolder

MEMO = "_data_fingerprint"  # attribute of a DataSplits that keeps its fingerprint
SHORT = 12  # hex digits shown and stored


def data_fingerprint(splits) -> str:
    """A short, stable hash of what a run learned from (train + validation, labels included).

    Hashing reads every training image once, so it is kept on the splits object: all
    strategies of a `compare` train on the same splits.
    """
    parts = [p for p in (splits.train, splits.val) if p is not None]
    memo = getattr(splits, MEMO, None)
    if memo is not None and len(memo[0]) == len(parts) and all(
            a is b for a, b in zip(memo[0], parts, strict=True)):
        return memo[1]
    h = hashlib.sha256()
    for p in parts:
        h.update(p.fingerprint().encode())
    digest = h.hexdigest()[:SHORT]
    object.__setattr__(splits, MEMO, (parts, digest))
    return digest


def run_folder_of(backbone: str) -> Path | None:
    """The transferlab run folder a backbone name points at (the folder or its model file);
    None for anything else (a registry name, a plain weights file)."""
    path = Path(str(backbone).removeprefix("file:"))
    try:
        folder = path if path.is_dir() else path.parent if path.name == MODEL else None
    except OSError:
        return None
    if folder is None or not (folder / MODEL).is_file() or not (folder / METRICS).is_file():
        return None
    return folder


def source_provenance(backbone: str, depth: int = 2) -> dict | None:
    """The source run of `backbone` as recorded facts; None when it is not a run folder.

    `depth` bounds how many levels of sources are read from disk (the source's source is
    also taken from its config.yaml when it recorded one there).
    """
    folder = run_folder_of(backbone)
    if folder is None:
        return None
    run = RunFolder(folder)
    config = run.read_config(required=False)
    settings = config.get("config") if isinstance(config.get("config"), dict) else {}
    test = run.test_metrics(required=False) or {}
    out = {"run": str(folder.resolve()), "data": settings.get("data"),
           "data_fingerprint": stored_fingerprint(run),
           "strategy": (run.read_metrics(required=False) or {}).get("strategy")
           or config.get("strategy") or settings.get("strategy"),
           "backbone": settings.get("backbone"), "test_accuracy": test.get("accuracy")}
    if test.get("accuracy") is None and test.get("rmse") is not None:
        out["test_rmse"] = test["rmse"]
    parent = config.get("source_run")
    if isinstance(parent, dict):
        out["source"] = parent
    elif depth > 1 and settings.get("backbone"):
        deeper = source_provenance(settings["backbone"], depth - 1)
        if deeper is not None:
            out["source"] = deeper
    return out


def stored_fingerprint(run: RunFolder) -> str | None:
    """data.json's fingerprint, else one computed from the digests a run always kept."""
    data = run.read_data(required=False) if run.has(DATA) else None
    if isinstance(data, dict) and data.get("fingerprint"):
        return str(data["fingerprint"])
    hashes = run.read_hashes()
    if hashes is None and not isinstance(data, dict):
        return None
    h = hashlib.sha256()
    if hashes is not None:
        h.update(hashes[0].tobytes())
    for split in ("train", "val"):
        part = (data or {}).get(split) or {}
        h.update(json.dumps([part.get("classes"), part.get("class_counts")],
                            sort_keys=True).encode())
    return h.hexdigest()[:SHORT]


def provenance_line(prov: dict) -> str:
    """`source run RUN: data D (fingerprint F), strategy S, test accuracy A; its source: ...`."""
    score = prov.get("test_accuracy")
    measured = (f"test accuracy {score:.4f}" if isinstance(score, int | float) else
                f"test RMSE {prov['test_rmse']:.4f}" if prov.get("test_rmse") is not None
                else "no test metric")
    text = (f"source run {prov.get('run')}: data {prov.get('data')} (fingerprint "
            f"{prov.get('data_fingerprint') or '?'}), strategy {prov.get('strategy')}, "
            f"{measured}, backbone {prov.get('backbone')}")
    parent = prov.get("source")
    if isinstance(parent, dict):
        text += f"; its {provenance_line(parent)}"
    return text
