"""Temperature scaling after training: fit T on held-out logits and store it in the model.

Where the run has a validation split, T is fitted on its logits. Small budgets have none
(data/splits.py: fewer than MIN_VAL_PER_CLASS validation images per class), so there T comes
from K-fold cross-fitting: the same strategy, recipe and seed are trained K more times, each on
(K-1)/K of the training images, and T is fitted on the out-of-fold logits, i.e. on images the
model that scored them never saw. The final model (trained on all images) gets that T, as
CalibratedClassifierCV(ensemble=False) does. It costs about K-1 extra trainings, but only where
there is no validation split, which is where the training set is smallest. Training a model
on its own training images' logits would not do: those are overfit, and T would come out < 1.

The validation split also chose the best epoch (or the probe's C), so its logits flatter the
model. `--calibration holdout` removes that: it deals the validation split in two stratified
halves before training; the Trainer selects on one, T is fitted on the other, which nothing
else has seen, at the price of half the images for selection. `--calibration crossfit`
cross-fits even where there is a validation split: K-1 extra trainings buy T a held-out set
the size of the training set. Measured (docs/VERDICT.md), neither beats the default: the
selection bias is small next to the noise of fitting T on 50-100 images, and fold models
mislead T for lp-ft; so they are options, not the default.

The fitted T lives in ModelInfo (saved in the safetensors metadata); TransferModel.forward
divides by it, so predict, evaluate and every export apply it. Training always runs at T = 1.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import numpy as np
import torch

from transferlab.data import DataSplits
from transferlab.data.sampling import stratified_split
from transferlab.data.transforms import Preprocess
from transferlab.engine import distributed as dist
from transferlab.engine.balance import Balance
from transferlab.engine.loop import predict_logits
from transferlab.engine.strategies import Phase, Recipe
from transferlab.engine.trainer import Trainer
from transferlab.model import TransferModel
from transferlab.results import calibration as cal

CV_FOLDS = 3
HOLDOUT_FRACTION = 0.5  # of the validation split kept from selection for T (holdout mode)
NO_VAL = "not calibrated: no validation split"
OFF = "not calibrated (--calibration none)"


class Calibrator:
    """Made before training (it keeps an untrained copy when cross-fitting will need one, and
    in holdout mode takes its half of the validation split: train with `train_splits`);
    `fit` runs after training and sets the model's temperature."""

    def __init__(self, model: TransferModel, splits: DataSplits, recipe: Recipe,
                 phases: list[Phase], device: torch.device, seed: int,
                 log: Callable[[str], object] = print, balance: Balance | None = None,
                 mode: str = "auto") -> None:
        self.splits, self.recipe, self.phases = splits, recipe, phases
        self.device, self.seed, self.log, self.balance = device, seed, log, balance
        self.classify = model.info.task == "classification"
        self.mode = mode
        # cross-fitting under torchrun would need every rank in step through K trainings
        cross = (self.classify and not dist.is_distributed()
                 and (mode == "crossfit" or (splits.val is None and mode == "auto")))
        self.template = copy.deepcopy(model).cpu() if cross else None
        self.train_splits, self.held = splits, None
        if self.classify and mode == "holdout" and splits.val is not None and len(splits.val):
            select, held = stratified_split(splits.val.labels, HOLDOUT_FRACTION, seed + 23)
            if len(select) and len(held):
                self.held = splits.val.subset(held)
                self.train_splits = DataSplits(splits.train, splits.val.subset(select),
                                               splits.test, splits.warnings, splits.health)

    def fit(self, model: TransferModel, pre: Preprocess) -> dict:
        """{"temperature", "fitted_on", "seconds", "fitted", "p_value"} (empty for regression);
        sets the model's T: the fitted T when it beats T = 1 (cal.EVIDENCE_ALPHA), else 1."""
        if not self.classify:
            return {}
        t0 = time.perf_counter()
        model.info.temperature = 1.0  # held-out logits are raw logits
        if self.mode == "none":  # ECE/NLL are still measured, at T = 1
            model.info.extra["temperature_fitted_on"] = OFF
            return {"temperature": 1.0, "fitted_on": OFF, "seconds": 0.0}
        val = self.splits.val
        if self.template is not None:  # kept only when cross-fitting (see __init__)
            logits, labels = self._out_of_fold(pre)
            why = "--calibration crossfit" if self.mode == "crossfit" else "no validation split"
            fitted_on = (f"{CV_FOLDS}-fold cross-fitting on the {len(labels)} training images "
                         f"({why})")
        elif self.held is not None:
            logits = predict_logits(model, self.held, pre, self.device, desc="calibrate")
            labels = self.held.labels.numpy()
            fitted_on = (f"held-back half of the validation split ({len(self.held)} images; "
                         f"the other {len(val) - len(self.held)} chose the epoch)")
        elif val is not None and len(val):
            logits = predict_logits(model, val, pre, self.device, desc="calibrate")
            labels = val.labels.numpy()
            fitted_on = f"validation split ({len(val)} images)"
        else:
            why = (f"--calibration {self.mode}" if self.mode in ("validation", "holdout")
                   else "cross-fitting is not run under torchrun")
            self.log(f"calibration: {NO_VAL} ({why}); T = 1")
            model.info.extra["temperature_fitted_on"] = NO_VAL
            return {"temperature": 1.0, "fitted_on": NO_VAL, "seconds": 0.0}
        fitted = cal.fit_temperature(logits.numpy(), labels, alpha=None)
        p_value = cal.temperature_p_value(logits.numpy(), labels, fitted)
        t = cal.supported_temperature(fitted, p_value)
        model.info.temperature = t
        model.info.extra["temperature_fitted_on"] = fitted_on  # evaluate and exports say it
        seconds = round(time.perf_counter() - t0, 2)
        kept = ("" if t == fitted else
                f"; fitted {fitted:.3f} not applied: no evidence against T = 1 (p = {p_value:.2f})")
        self.log(f"calibration: T = {t:.3f} fitted on {fitted_on} in {seconds:.1f}s{kept}")
        return {"temperature": t, "fitted_on": fitted_on, "seconds": seconds,
                "fitted": fitted, "p_value": p_value}

    def _out_of_fold(self, pre: Preprocess) -> tuple[torch.Tensor, np.ndarray]:
        train = self.splits.train
        folds = stratified_folds(train.labels, CV_FOLDS, self.seed)
        logits = torch.zeros(len(train), train.num_classes)
        for k, held in enumerate(folds):
            rest = torch.sort(torch.cat([f for j, f in enumerate(folds) if j != k])).values
            if len(held) == 0 or len(torch.unique(train.labels[rest])) < 2:
                continue
            part = DataSplits(train.subset(rest), None, train.subset(held))
            net = copy.deepcopy(self.template)
            self.log(f"calibration: fold {k + 1}/{CV_FOLDS}, training on {len(rest)} images")
            Trainer(net, part, self.recipe, self.phases, self.device, self.seed,
                    log=lambda _line: None, balance=self.balance).run()
            logits[held] = predict_logits(net, part.test, pre, self.device, desc="calibrate")
        return logits, train.labels.numpy()


def stratified_folds(labels: torch.Tensor, k: int, seed: int) -> list[torch.Tensor]:
    """K disjoint index sets covering every row, each class dealt round-robin after a seeded
    shuffle, so each fold holds about 1/K of every class."""
    g = torch.Generator().manual_seed(seed + 17)
    folds: list[list[torch.Tensor]] = [[] for _ in range(k)]
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        for j in range(k):
            folds[j].append(idx[j::k])
    return [torch.sort(torch.cat(f)).values for f in folds]


def saved_fit(model: TransferModel) -> dict:
    """What `calibration_metrics` needs, for a saved model: its T and what T was fitted on."""
    if model.info.task != "classification":
        return {}
    fitted_on = model.info.extra.get("temperature_fitted_on",
                                     "not calibrated (model saved before calibration existed)")
    return {"temperature": model.info.temperature, "fitted_on": fitted_on}


def calibration_metrics(logits: torch.Tensor, data, fit: dict,
                        log: Callable[[str], object] | None = None) -> dict:
    """{"calibration": ...} for the test metrics: ECE/NLL/bins before and after T, T and what
    it was fitted on. `logits` are the model's own (already divided by T). Regression: {}."""
    if data.is_regression or not fit or len(data) == 0:
        return {}
    t = float(fit["temperature"])
    raw = logits.double().numpy() * t  # undo the model's division: the uncalibrated logits
    out = {"temperature": t, "fitted_on": fit.get("fitted_on"), "n": int(len(data)),
           "fit_seconds": fit.get("seconds"),  # cross-fitting costs ~2 trainings (in wall time)
           "fitted_temperature": fit.get("fitted"), "p_value": fit.get("p_value"),
           **cal.summary(raw, data.labels.numpy(), t)}
    fitted = fit.get("fitted")
    if fitted is not None and fitted != t:  # what the T the gate refused would have done
        probs = cal.softmax(raw / fitted)
        out["at_fitted"] = {"ece": cal.ece(probs, data.labels.numpy()),
                            "nll": cal.nll(raw, data.labels.numpy(), fitted)}
    if log is not None:
        log(f"calibration (test): {cal.describe(out)}")
    return {"calibration": out}
