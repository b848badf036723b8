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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-class", type=int, default=0, help="0 = all 60,000 training images")
    p.add_argument("--image-size", type=int)
    p.add_argument("--max-test", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    out = Path(tempfile.mkdtemp(prefix="tta-"))
    cmd = [sys.executable, "-m", "transferlab", "fit", "--data", "fashion-mnist",
           "--per-class", str(args.per_class), "--device", args.device, "--out", str(out),
           "--name", "fit"]
    for flag in ("image_size", "max_test", "epochs"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    print("command:", " ".join(cmd[2:]))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    run = RunFolder(out / "fit")
    metrics, history = run.test_metrics(), run.read_history()
    print(f"test accuracy {metrics['accuracy']:.4f} on {metrics['n']} images, "
          f"wall {wall:.1f} s, {len(history)} epochs, run folder {out / 'fit'}")


if __name__ == "__main__":
    main()
