"""The Python steps of `bench/gpu_check.sh` (issue 18): each writes one JSON file, `table`
reads them all and prints the verdict. Every step runs on a CPU too (`--device cpu --quick`),
so the script's pieces are tested where no GPU is.

    python bench/gpu_check.py throughput --device cpu --quick --json /tmp/r/throughput.json
    python bench/gpu_check.py tta --device cpu --quick --json /tmp/r/tta.json
    python bench/gpu_check.py table /tmp/r

Targets (issue 4's, from the H100 anchors): finetune img/s >= 0.90 x the synthetic train
limit, feature extraction >= 0.85 x the inference limit, and the default `fit` on full
Fashion-MNIST at >= 95.0% test accuracy in <= 60 s wall (start-up and warm-up included).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TRAIN_RATIO, INFER_RATIO = 0.90, 0.85
TTA_ACCURACY, TTA_SECONDS = 0.950, 60.0
# --quick: tiny sizes so the CPU path runs in seconds; its figures check the code, not a target
QUICK_THROUGHPUT = {"image_size": 64, "batch_size": 8, "infer_batch": 16, "steps": 2,
                    "warmup": 1}
FULL_THROUGHPUT = {"infer_batch": 256, "steps": 30, "warmup": 5}  # image size, batch: recipe's
QUICK_TTA = {"per_class": 5, "image_size": 64, "max_test": 100, "epochs": 1}
STEPS = ("throughput", "tta")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="step", required=True)
    t = sub.add_parser("throughput", help="finetune and feature img/s against their limits")
    t.add_argument("--image-size", type=int, help="default: the auto recipe's for full "
                   "Fashion-MNIST on this device (224 on a GPU)")
    t.add_argument("--batch-size", type=int, help="default: the auto recipe's (256 on a GPU)")
    t.add_argument("--infer-batch", type=int,
                   help="feature and inference batch (default 256, what the probe phase uses)")
    t.add_argument("--steps", type=int, help="timed steps (default 30)")
    t.add_argument("--warmup", type=int, help="untimed steps first (default 5)")
    t.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="torch.compile the train model as `fit` does (auto: on a GPU only)")
    a = sub.add_parser("tta", help="time to accuracy of the default fit on full Fashion-MNIST")
    a.add_argument("--per-class", type=int, default=0, help="0 = all 60,000 images")
    a.add_argument("--image-size", type=int)
    a.add_argument("--max-test", type=int)
    a.add_argument("--epochs", type=int)
    for s in (t, a):
        s.add_argument("--device", default="auto")
        s.add_argument("--data", default="fashion-mnist", help="fashion-mnist or an IDX folder")
        s.add_argument("--quick", action="store_true", help="tiny sizes (a CPU check of the "
                       "code path; its figures are not measured against the targets)")
        s.add_argument("--json", required=True, help="write the result here")
    b = sub.add_parser("table", help="print the verdict from the steps' JSON files")
    b.add_argument("results", help="the folder the steps wrote throughput.json/tta.json in")
    args = p.parse_args(argv)
    fill = {"throughput": FULL_THROUGHPUT}.get(args.step, {})
    if getattr(args, "quick", False):  # a flag given wins over both
        fill = QUICK_THROUGHPUT if args.step == "throughput" else QUICK_TTA
    for k, v in fill.items():
        if getattr(args, k) is None or (k == "per_class" and args.per_class == 0):
            setattr(args, k, v)
    return args


def throughput(args: argparse.Namespace) -> dict:
    """bench/throughput_bench.py's measurements at the size and batch `fit` would train at.

    The JSON file is rewritten after each of the four figures, so a step stopped by its
    timeout (e.g. in a slow compile) still leaves the figures it had."""
    import throughput_bench as tb
    import torch

    from transferlab.data import load_dataset
    from transferlab.engine.device import amp_dtype, resolve_device
    from transferlab.engine.recipe import auto_recipe
    from transferlab.model import build_model

    device = resolve_device(args.device)
    torch.manual_seed(0)
    data = load_dataset(args.data, "train")
    spec = build_model("efficientnet_lite0", ["a"]).spec
    recipe = auto_recipe(int(len(data) * 0.9), spec, data.source_size, device)
    args.image_size = args.image_size or recipe.image_size
    args.batch_size = args.batch_size or recipe.batch_size
    args.compile = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    t0 = time.perf_counter()
    out = {"device": device_name(device), "image_size": args.image_size,
           "batch_size": args.batch_size, "infer_batch": args.infer_batch, "steps": args.steps,
           "compile": args.compile,
           "dtype": str(amp_dtype(device) or torch.float32).replace("torch.", ""),
           "torch": torch.__version__, "quick": args.quick}
    for key, fn, needs_data in (("train_limit", tb.limit_train, False),
                                ("train_path", tb.transferlab_train, True),
                                ("infer_limit", tb.limit_infer, False),
                                ("features", tb.transferlab_features, True)):
        out[key] = fn(args, device, data) if needs_data else fn(args, device)
        out["seconds"] = time.perf_counter() - t0
        write_json(args.json, out)
    return out


def write_json(path: str, data: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2))


def tta(args: argparse.Namespace) -> dict:
    """bench/time_to_accuracy.py's measurement: the default `fit`, start-up included."""
    from time_to_accuracy import measure

    r = measure(args.per_class, args.image_size, args.max_test, args.epochs, args.device,
                args.data, out=Path(args.json).resolve().parent / "tta-run")
    return {**r, "quick": args.quick}


def device_name(device) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def verdict_rows(results: dict) -> list[dict]:
    """One row per target: measured, limit or target, ratio, PASS/FAIL. A step whose JSON is
    missing (timed out, crashed) is a FAIL with its reason, never a silent gap."""
    rows = []
    tp = results.get("throughput")
    for key, limit, ratio, what in (("train_path", "train_limit", TRAIN_RATIO,
                                     "finetune img/s vs synthetic train limit"),
                                    ("features", "infer_limit", INFER_RATIO,
                                     "feature img/s vs inference limit")):
        if tp is None or key not in tp or limit not in tp:
            rows.append({"check": what, "measured": None, "target": f">= {ratio:.2f} x limit",
                         "result": f"FAIL ({reason(results, 'throughput')})"})
            continue
        got = tp[key] / tp[limit]
        rows.append({"check": what, "measured": f"{tp[key]:.0f} / {tp[limit]:.0f} = {got:.3f}",
                     "target": f">= {ratio:.2f} x limit",
                     "result": "PASS" if got >= ratio else "FAIL"})
    a = results.get("tta")
    what = "fit, full Fashion-MNIST: accuracy, wall"
    target = f">= {TTA_ACCURACY:.3f} in <= {TTA_SECONDS:.0f} s"
    if a is None or "accuracy" not in a:
        rows.append({"check": what, "measured": None, "target": target,
                     "result": f"FAIL ({reason(results, 'tta')})"})
    else:
        ok = a["accuracy"] >= TTA_ACCURACY and a["wall"] <= TTA_SECONDS
        rows.append({"check": what, "measured": f"{a['accuracy']:.4f} in {a['wall']:.1f} s "
                     f"({a['epochs']} ep, {a['n']} test)", "target": target,
                     "result": "PASS" if ok else "FAIL"})
    return rows


def reason(results: dict, step: str) -> str:
    return results.get(f"{step}_error") or "no result"


def load_results(folder: Path) -> dict:
    """throughput.json and tta.json, and STEP.error (the shell's note of a timeout/crash)."""
    out: dict = {}
    for step in STEPS:
        path, err = folder / f"{step}.json", folder / f"{step}.error"
        if path.is_file():
            out[step] = json.loads(path.read_text())
        if err.is_file():
            out[f"{step}_error"] = err.read_text().strip().splitlines()[-1][:120]
    return out


def format_table(results: dict) -> str:
    rows = verdict_rows(results)
    tp, a = results.get("throughput") or {}, results.get("tta") or {}
    lines = []
    if tp:
        lines.append(f"device {tp['device']}, torch {tp['torch']}, EfficientNet-Lite0 "
                     f"@{tp['image_size']}px, train batch {tp['batch_size']}, feature batch "
                     f"{tp['infer_batch']}, {tp['dtype']}, compile={tp['compile']}, "
                     f"{tp['steps']} timed steps")
    if a:
        lines.append(f"tta command: {a['command']}")
    if tp.get("quick") or a.get("quick"):
        lines.append("QUICK MODE: tiny sizes; checks the code path, the verdicts mean nothing")
    w = max(len(r["check"]) for r in rows)
    lines.append(f"{'check':<{w}}  {'measured':<40}  {'target':<22}  result")
    for r in rows:
        lines.append(f"{r['check']:<{w}}  {r['measured'] or '-':<40}  {r['target']:<22}  "
                     f"{r['result']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.step == "table":
        results = load_results(Path(args.results))
        print(format_table(results))
        return 0 if all(r["result"] == "PASS" for r in verdict_rows(results)) else 1
    result = throughput(args) if args.step == "throughput" else tta(args)
    write_json(args.json, result)
    print(json.dumps({k: v for k, v in result.items() if k != "run_dir"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
