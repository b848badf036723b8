"""Flags shared by the training commands; each maps 1:1 onto a RunConfig field."""

from __future__ import annotations

import argparse
from dataclasses import fields

from transferlab.config import IMAGE_SIZE_RANGE, RunConfig, load_config


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", help="fashion-mnist (default), an IDX folder, an image folder with "
                   "one sub-folder per class (DIR/train + DIR/test if present), or a CSV of "
                   "path,label; text: a CSV of text,label or a folder of .txt files per class")
    g.add_argument("--test-data", help="separate test set (same forms as --data); default: the "
                   "source's test split, or a held-out 20%% of --data")
    g.add_argument("--per-class", type=int, help="labelled images per class to train on "
                   "(few-shot budget, seeded and stratified; default: all of your data, 100 "
                   "for the fashion-mnist demo; 0 = all)")
    g.add_argument("--val-fraction", type=float, help="share of the budget held out for "
                   "validation / best-epoch selection (default 0.1; none when that gives a class "
                   "under 3 images: too few to choose an epoch, so all train and the last "
                   "epoch is kept)")
    g.add_argument("--max-test", type=int, help="evaluate on a seeded random subset of this "
                   "many test images (default: all)")
    g.add_argument("--task", choices=["classification", "regression"],
                   help="regression needs a CSV with a numeric target column")
    g.add_argument("--allow-outside-paths", action="store_true", default=None,
                   help="let CSV rows and symbolic links name files outside the data folder "
                   "(default: such rows are listed as bad files and never opened)")
    g.add_argument("--on-bad-file", choices=["skip", "error"],
                   help="bad images (corrupt, truncated, zero-byte): skip and report them "
                   "(default) or stop and list them")


def add_source_data_arg(p: argparse.ArgumentParser) -> None:
    """`--source-data` (rank, compare): the domain-shift figure source→target."""
    p.add_argument("--source-data", metavar="DATA", help="the data the backbone was pretrained "
                   "on (same forms as --data, e.g. fashion-mnist-source): prints and saves the "
                   "domain shift source→target, proxy A-distance (0 = same, 2 = separable) "
                   "and MMD², on the backbone's features of up to 1000 images per domain")


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--backbone", help="efficientnet_lite0 (default, bundled ImageNet weights), "
                   "timm:NAME, tv:NAME, or a weights file / transferlab run folder; text: minilm "
                   "(bundled all-MiniLM-L6-v2) or hf:PATH, `@cls` for CLS pooling")
    g.add_argument("--head", choices=["linear", "mlp"], help="new head (default linear)")
    g.add_argument("--in-chans", type=int, help="input channels of the data when not 3 "
                   "(e.g. 1): the first conv's pretrained filters are adapted, not re-initialised;"
                   " default: grey images are repeated to 3 channels")
    g.add_argument("--arch", help="timm architecture of a --backbone weights file that does "
                   "not say (a plain state dict), e.g. resnet18")
    g.add_argument("--adapt-input", choices=["sum", "average", "repeat"],
                   help="how the first conv is adapted for --in-chans (default sum)")


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("recipe (default: chosen automatically and saved in config.yaml)")
    low, high = IMAGE_SIZE_RANGE
    g.add_argument("--image-size", type=int, help=f"input resolution in pixels ({low} to {high})")
    g.add_argument("--epochs", type=int, help="epochs per training phase")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float,
                   help="head learning rate (default: the auto recipe's); the backbone trains "
                        "at the same rate for images, at 0.05x for text encoders, at most 0.1x "
                        "while gradual unfreezing thaws it")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--bn", choices=["frozen", "train"], help="BatchNorm policy when fine-tuning "
                   "(default frozen: eval mode, pretrained statistics kept)")
    g.add_argument("--freeze-stages", type=int, help="for --strategy partial: leading stage "
                   "groups kept frozen")
    g.add_argument("--layer-decay", type=float, help="layer-wise LR decay per stage (e.g. 0.75)")
    g.add_argument("--patience", type=int, help="early stopping: epochs without validation gain")
    g.add_argument("--lora-rank", type=int, help="--strategy lora: adapter rank r (default 16)")
    g.add_argument("--lora-alpha", type=float, help="--strategy lora: adapter scale alpha; the "
                   "update is alpha/r x B@A (default 32)")
    g.add_argument("--lora-targets", choices=["auto", "attention", "all"],
                   help="--strategy lora: attention = query/key/value projections, all = every "
                   "Linear of the transformer layers (MLP too); images: every non-grouped conv; "
                   "auto (default) = attention for text, all for images")
    g.add_argument("--balance", choices=["auto", "none", "logit-adjust", "logit-adjust-loss",
                                         "weights", "sampler"],
                   help="class imbalance: logit-adjust = subtract the training class prior "
                   "from the logits after training (for a balanced class mix), logit-adjust-loss "
                   "= add it to the logits inside the training loss instead, weights = class-"
                   "weighted loss, sampler = class-balanced batches, none; auto (default) = "
                   "logit-adjust when the largest class has over 3x the images of the smallest "
                   "(said in the log)")
    g.add_argument("--calibration", choices=["auto", "validation", "holdout", "crossfit", "none"],
                   help="temperature scaling after training: auto (default) fits T on the "
                   "validation split, or by 3-fold cross-fitting (3 extra trainings on 2/3 of "
                   "the images) when there is none; validation = only on a validation split; "
                   "holdout = half the validation split chooses the epoch, T is fitted on the "
                   "other half; crossfit = 3-fold cross-fitting even when there is a validation "
                   "split (3 extra trainings: T sees every training image); none = T stays 1")


def add_run_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, help="seed for sampling, order and augmentation (default 0)")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    g.add_argument("--compile", choices=["auto", "on", "off"],
                   help="torch.compile the model being trained: auto (default) = on GPUs only, "
                   "where it pays; if the compiler fails the run warns and goes on without it")
    g.add_argument("--deterministic", action="store_true", default=None,
                   help="deterministic kernels only: bit-for-bit repeatable runs and resumes "
                   "(slower on GPUs)")
    g.add_argument("--out", help="folder that holds run folders (default runs)")
    g.add_argument("--name", help="run folder name (default COMMAND-DATE-TIME)")
    g.add_argument("--config", help="YAML file of settings; flags override it")
    g.add_argument("--keep-checkpoints", action="store_true", default=None,
                   help="keep the checkpoint folder of a finished run (default: pruned once "
                   "the final model is saved; an interrupted run always keeps it)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Flags that were given override the --config file, which overrides the defaults."""
    overrides = {f.name: getattr(args, f.name, None) for f in fields(RunConfig)}
    return load_config(getattr(args, "config", None), overrides)


def given_settings(args: argparse.Namespace) -> dict:
    """The settings the user gave (--config file, then flags), for `fit --resume` to check."""
    from transferlab.config import read_config_file

    given = read_config_file(args.config) if getattr(args, "config", None) else {}
    given.update({f.name: getattr(args, f.name) for f in fields(RunConfig)
                  if getattr(args, f.name, None) is not None})
    return given


def strategy_list(text: str) -> list[str]:
    """Split only: the names are checked with the rest of the config, in one line."""
    return [s.strip() for s in text.split(",") if s.strip()]
