"""Re-check the temperature rule on a calibration bench's saved runs, with no retraining.

For each run folder with a validation split (`*-100-s*` of `bench/calibration_bench.py`'s
output, or any folder given), it rebuilds the run's seeded split from its config.yaml,
recomputes the validation logits of the saved model (undoing its stored T), re-fits T, and
prints the likelihood-ratio p-value against T = 1 and the test ECE the evidence gate
(results/calibration.py `EVIDENCE_ALPHA`) would give. Cross-fitted runs (no validation split)
would need their fold trainings again and are skipped.

    OMP_NUM_THREADS=1 python bench/calibration_recheck.py /tmp/calib-bench-XXXX
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from transferlab.api.runner import prepare_data
from transferlab.config import load_config
from transferlab.data.transforms import Preprocess
from transferlab.engine.loop import predict_logits
from transferlab.model import load_model
from transferlab.results import calibration as cal


def raw_logits(run: Path, part: str) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The saved model's logits before its stored T on the run's own seeded `part` split
    ("val" or "test"), its labels and that T; None when the run has no such split."""
    splits = prepare_data(load_config(run / "config.yaml", {}), lambda *_: None)
    data = getattr(splits, part)
    if data is None or not len(data):
        return None
    model = load_model(run)
    stored = model.info.temperature
    pre = Preprocess.from_spec(model.spec, model.info.image_size)
    logits = predict_logits(model, data, pre, torch.device("cpu"), desc=part)
    return logits.double().numpy() * stored, data.labels.numpy(), stored


def recheck(run: Path) -> str | None:
    """One table line, or None when the run has no validation split."""
    found = raw_logits(run, "val")
    if found is None:
        return None
    raw, labels, stored = found
    t = cal.fit_temperature(raw, labels, alpha=None)
    p = cal.temperature_p_value(raw, labels, t)
    c = json.loads((run / "metrics.json").read_text())["test"]["calibration"]
    before, after = c["before"]["ece"], c["after"]["ece"]
    keep = cal.supported_temperature(t, p) != 1.0
    return (f"{run.name:<18}{stored:>9.3f}{t:>9.3f}{p:>8.3f}{'keep' if keep else 'T=1':>6}"
            f"{before:>11.4f}{after:>16.4f}{after if keep else before:>18.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="a calibration bench's run folders (printed at its end)")
    p.add_argument("--glob", default="*-100-s*", help="which run folders (default *-100-s*)")
    args = p.parse_args()
    print(f"{'run':<18}{'stored T':>9}{'refit T':>9}{'p':>8}{'gate':>6}{'ECE before':>11}"
          f"{'ECE after (old)':>16}{'ECE after (gated)':>18}")
    for run in sorted(Path(args.folder).glob(args.glob)):
        line = recheck(run)
        print(line if line else f"{run.name:<18} no validation split: skipped", flush=True)


if __name__ == "__main__":
    main()
