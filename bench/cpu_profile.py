"""Where a `transferlab compare` run's wall seconds go (issue 18), per strategy and in total.

Runs compare through `transferlab.api` with `transferlab compare`'s defaults (Fashion-MNIST,
100 per class, EfficientNet-Lite0, linear-probe,finetune,scratch, seed 0, auto recipe) and
timers wrapped around the pipeline's functions (`bench/profiling.py`): data load/decode, data
health, model build, feature extraction, probe fit, training batches and steps, validation,
calibration, test prediction and metrics, run-folder writes, checkpoints, verdict, report.
Seconds are exclusive (a nested timer's time is not counted again by the one around it);
'other' is wall - sum of the rest. Meant for before/after measurements of speed-ups, so what
it runs is fixed by its flags: the seed is fixed and the decode and feature caches are a fresh
temporary folder unless --cache names one (a warm cache skips decode and features).

    OMP_NUM_THREADS=1 python bench/cpu_profile.py --quick 2>/dev/null   # tiny; no progress bars
    python bench/cpu_profile.py --json profile.json                # the default compare
    python bench/cpu_profile.py --per-class 100 --max-test 2000 --strategies finetune
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_IMPORT = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent))
from profiling import OTHER, Profile, Target, instrument  # noqa: E402

# (module where the name is looked up, attribute, category); checked with grep against src/.
TARGETS = [
    Target("transferlab.api.compare", "run_strategy", "", scope_arg=1),
    Target("transferlab.api.compare", "prepare_data", "data: other"),
    Target("transferlab.api.runner", "load_dataset", "data: load/decode"),
    Target("transferlab.api.runner", "check_splits", "data: health check"),
    Target("transferlab.api.runner", "build_model", "model build (weights)"),
    Target("transferlab.engine.trainer", "Trainer.__init__", "train: setup (data placement)"),
    Target("transferlab.engine.trainer", "extract_features", "features: cache + hashing"),
    Target("transferlab.engine.features", "compute_features", "features: compute"),
    Target("transferlab.engine.trainer", "fit_linear_probe", "probe: fit head"),
    Target("transferlab.engine.trainer", "train_one_epoch", "train: steps"),
    Target("transferlab.engine.loop", "local_batch", "train: batches (augment)"),
    Target("transferlab.engine.trainer", "evaluate", "validation"),
    Target("transferlab.engine.trainer", "Trainer._select_best", "validation: keep best state"),
    Target("transferlab.engine.trainer", "save_checkpoint", "checkpoints"),
    Target("transferlab.api.runner", "prune_checkpoints", "checkpoints"),
    Target("transferlab.engine.calibrate", "Calibrator.fit", "calibration"),
    Target("transferlab.api.runner", "predict_logits", "test: predict"),
    Target("transferlab.api.runner", "test_metrics", "test: metrics + intervals"),
    Target("transferlab.api.runner", "save_run", "run folder writes"),
    Target("transferlab.api.runner", "save_predictions", "run folder writes"),
    Target("transferlab.api.compare", "build_report", "verdict (paired tests)"),
    Target("transferlab.api.compare", "write_report_safely", "report (plots + html)"),
]
QUICK = {"per_class": 30, "image_size": 64, "max_test": 300, "epochs": 2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-class", type=int, help="images per class (compare's default: 100)")
    p.add_argument("--image-size", type=int, help="default: the auto recipe's")
    p.add_argument("--max-test", type=int, help="test images (default: all 10,000)")
    p.add_argument("--epochs", type=int, help="epochs per phase (default: the auto recipe's)")
    p.add_argument("--strategies", help="comma-separated (default: compare's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    p.add_argument("--quick", action="store_true", help="tiny run: " + ", ".join(
        f"{k.replace('_', '-')} {v}" for k, v in QUICK.items()) + " (flags given win)")
    p.add_argument("--cache", help="decode/feature cache folder to use as is (default: a fresh "
                   "temporary one, so every run decodes and extracts features)")
    p.add_argument("--out", help="keep the run folder here (default: a temporary folder, "
                   "removed afterwards)")
    p.add_argument("--json", help="also write the profile to this file")
    p.add_argument("--verbose", action="store_true", help="print compare's log lines")
    p.add_argument("--eager-inference", action="store_true",
                   help="predict the test set with the eager model, not the frozen trace "
                        "(engine/inference.py): the 'before' of that speed-up")
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            if getattr(args, k) is None:
                setattr(args, k, v)
    return args


def settings(args: argparse.Namespace, out: Path) -> dict:
    """The api.compare keywords: only what was given, so the rest is compare's default."""
    given = {k: getattr(args, k) for k in ("per_class", "image_size", "max_test", "epochs")
             if getattr(args, k) is not None}
    return {**given, "strategies": args.strategies, "seed": args.seed, "device": "cpu",
            "out": str(out), "name": "profile"}


def git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" (src modified)" if dirty else "")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(import_s: float) -> dict:
    import torch

    import transferlab

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"machine": f"{cpu_name()}, {os.cpu_count()} logical cores, {platform.system()}",
            "load_average_at_start": [round(x, 2) for x in load] if load else None,
            "threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "python": platform.python_version(), "torch": torch.__version__,
            "transferlab": f"{transferlab.__version__} @ {git_commit()}",
            "import_seconds": round(import_s, 2)}


def run(args: argparse.Namespace) -> dict:
    """One instrumented compare; returns header, config, recipes, accuracies and the table."""
    tmp = Path(tempfile.mkdtemp(prefix="cpu-profile-"))
    out = Path(args.out) if args.out else tmp / "runs"
    os.environ["TRANSFERLAB_CACHE"] = args.cache or str(tmp / "cache")
    import torch

    from transferlab.api import workflows

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.eager_inference:
        from transferlab.engine import inference

        inference.FAST_MIN_ROWS = 10**12
    head = header(time.perf_counter() - T_IMPORT)
    kwargs = settings(args, out)
    profile = Profile(order=[t.category for t in TARGETS])
    try:
        with instrument(profile, TARGETS) as missing:
            profile.start()
            result = workflows.compare(log=print if args.verbose else None, **kwargs)
            profile.stop()
    finally:
        if not args.out:
            shutil.rmtree(tmp, ignore_errors=True)
    recipes = {name: {k: r.recipe.to_dict()[k] for k in ("image_size", "epochs", "batch_size")}
               for name, r in zip(result.runs, result.report.results, strict=True)}
    accuracy = {row["strategy"]: row.get("accuracy") for row in result.report.rows}
    return {"header": head, "config": {**kwargs, "cache": args.cache or "fresh temporary"},
            "not_instrumented": missing, "recipes": recipes, "accuracy": accuracy,
            "profile": profile.table()}


def format_report(data: dict) -> str:
    h, prof = data["header"], data["profile"]
    scopes = list(prof["scopes"])
    cfg = {k: v for k, v in data["config"].items() if k not in ("out", "name")}
    lines = [f"machine: {h['machine']}; load average at start {h['load_average_at_start']}",
             f"threads: torch {h['threads']}, OMP_NUM_THREADS={h['OMP_NUM_THREADS']}; python "
             f"{h['python']}, torch {h['torch']}, transferlab {h['transferlab']}",
             f"config: compare {json.dumps(cfg)} (unset = compare's default)",
             "recipes: " + "; ".join(f"{s} {r['image_size']}px {r['epochs']} epochs batch "
                                     f"{r['batch_size']}" for s, r in data["recipes"].items()),
             "test accuracy: " + ", ".join(f"{s} {a:.4f}" if a is not None else f"{s} -"
                                           for s, a in data["accuracy"].items()),
             f"imports before timing: {h['import_seconds']:.1f} s (not in wall)"]
    if data["not_instrumented"]:
        lines.append("NOT INSTRUMENTED (renamed?): " + ", ".join(data["not_instrumented"]))
    width = max(12, *(len(s) for s in scopes))
    lines += ["", "exclusive seconds (a nested timer's time is not counted by the one around "
              "it); incl s = with what runs inside", f"{'category':<32}" + "".join(
                  f"{s:>{width + 1}}" for s in scopes) + f"{'total s':>10}{'% wall':>8}"
              f"{'incl s':>9}{'calls':>7}"]
    for r in prof["rows"]:
        cells = "".join(f"{fmt_s(r['seconds'][s]):>{width + 1}}" for s in scopes)
        incl = "" if r["inclusive"] is None else f"{r['inclusive']:.2f}"
        calls = "" if r["category"] == OTHER else str(r["calls"])
        lines.append(f"{r['category']:<32}{cells}{r['total']:>10.2f}{r['percent']:>7.1f}%"
                     f"{incl:>9}{calls:>7}")
    walls = "".join(f"{prof['scopes'][s]:>{width + 1}.2f}" for s in scopes)
    lines.append(f"{'wall':<32}{walls}{prof['wall']:>10.2f}{100.0:>7.1f}%")
    return "\n".join(lines)


def fmt_s(value: float) -> str:
    return "-" if abs(value) < 0.005 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    data = run(args)
    print(format_report(data))
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2))
        print(f"\nprofile written to {args.json}")


if __name__ == "__main__":
    main()
