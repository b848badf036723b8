"""Wall seconds for `transferlab fit` (default: finetune, auto recipe) on full Fashion-MNIST,
and the test accuracy it reaches (issue 4). The wall time includes start-up, data loading,
feature/compile warm-up and the final evaluation: everything a user waits for.

    python bench/time_to_accuracy.py                          # GPU: the real figure
    python bench/time_to_accuracy.py --per-class 100 --image-size 64 --max-test 2000   # CPU
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transferlab.results.runfolder import RunFolder


def measure(per_class: int = 0, image_size: int | None = None, max_test: int | None = None,
            epochs: int | None = None, device: str = "auto", data: str = "fashion-mnist",
            out: Path | None = None) -> dict:
    """Run `transferlab fit` in a fresh process (start-up counts: a user waits for it) and
    return its test accuracy, test images, wall seconds, epochs and command line.
    bench/gpu_check.py calls this too. Raises RuntimeError with the fit's stderr on failure."""
    out = out or Path(tempfile.mkdtemp(prefix="tta-"))
    cmd = [sys.executable, "-m", "transferlab", "fit", "--data", data,
           "--per-class", str(per_class), "--device", device, "--out", str(out),
           "--name", "fit"]
    for flag, value in (("image-size", image_size), ("max-test", max_test), ("epochs", epochs)):
        if value is not None:
            cmd += [f"--{flag}", str(value)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    run = RunFolder(out / "fit")
    metrics, history = run.test_metrics(), run.read_history()
    return {"accuracy": metrics["accuracy"], "n": metrics["n"], "wall": wall,
            "epochs": len(history), "command": " ".join(cmd[2:]), "run_dir": str(out / "fit")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-class", type=int, default=0, help="0 = all 60,000 training images")
    p.add_argument("--image-size", type=int)
    p.add_argument("--max-test", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist or an IDX folder")
    args = p.parse_args()
    try:
        r = measure(args.per_class, args.image_size, args.max_test, args.epochs, args.device,
                    args.data)
    except RuntimeError as exc:
        sys.exit(str(exc))
    print("command:", r["command"])
    print(f"test accuracy {r['accuracy']:.4f} on {r['n']} images, "
          f"wall {r['wall']:.1f} s, {r['epochs']} epochs, run folder {r['run_dir']}")


if __name__ == "__main__":
    main()
