"""Large prediction passes (test sets, features): a frozen, traced copy of the model on a CPU,
and the batching loop every pass shares.

Eager PyTorch runs each Conv → BatchNorm → activation as separate kernels. Freezing a traced
graph folds every eval-mode BatchNorm into its convolution and fuses the activation, which on a
2-core CPU measured ~1.5-2x the images per second of eager channels-last for EfficientNet-Lite0
at 96 px (bench/cpu_profile.py, `test prediction`). Tracing costs ~1.5 s, so it only pays on
passes of thousands of images: the test set, not a 100-image validation split.

It is an optimisation, never a requirement: anything that cannot be traced (dict inputs such as
tokenised text, data-dependent control flow, a torch without `torch.jit`) or whose output
differs from the eager model's on a sample keeps the eager model, silently and correctly.
The temperature (a Python float in TransferModel.forward) is traced as a constant, so the traced
copy must be built after calibration; predict_logits builds one per call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from tqdm import tqdm

from transferlab.engine import distributed as dist
from transferlab.engine.device import shrinking_batches

FAST_MIN_ROWS = 2048  # below this the ~1.5 s trace costs more than it saves
PARITY_ATOL = 1e-3  # on logits; folding BN reorders float sums (~1e-6 measured)


def fast_forward(model: torch.nn.Module, sample: torch.Tensor, device: torch.device,
                 rows: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """`model` itself, or a frozen trace of it that matched it on `sample`; call in no-grad."""
    if device.type != "cpu" or rows < FAST_MIN_ROWS or not isinstance(sample, torch.Tensor):
        return model
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit's deprecation notices
            traced = torch.jit.freeze(torch.jit.trace(model.eval(), sample, check_trace=False))
            same = torch.allclose(traced(sample), model(sample), atol=PARITY_ATOL, rtol=1e-4)
    except Exception:  # noqa: BLE001 - any failure means "use the eager model"
        return model
    return traced if same else model


def token_lengths(data: object) -> torch.Tensor | None:
    """Real tokens per row of a text split (`TextSet.token_lengths`); None for data without
    them (images, cached features), whose rows all cost the same."""
    lengths = getattr(data, "token_lengths", None)
    return lengths() if callable(lengths) else None


def longest_first(data: object, index: torch.Tensor) -> torch.Tensor | None:
    """Positions in `index` that visit its rows longest text first; None for data without
    token lengths (images), whose rows all cost the same.

    A text batch is padded to its longest text. Fortunes' quotations run from a few tokens to
    the 128-token cap (median 27, mean 42), so batches in file order are ~2.8x padding; sorted,
    each batch holds texts of about one length. Longest first meets an out-of-memory batch at
    the start. The order does not change a text's outputs: padding is masked out.
    """
    found = token_lengths(data)
    if found is None or len(index) < 2:
        return None
    return torch.argsort(found[index], descending=True, stable=True)


def in_index_order(rows: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    """Undo `longest_first`: row k of `rows` belongs at position `positions[k]`."""
    if positions is None:
        return rows
    out = torch.empty_like(rows)
    out[positions] = rows
    return out


def rows_in_batches(n: int, batch_size: int, run: Callable[[int, int], torch.Tensor],
                    device: torch.device, what: str, desc: str) -> torch.Tensor:
    """`run(lo, hi)` for every block of rows, concatenated in order, with a progress bar on
    passes of four batches or more. Out of memory halves the batch (device.shrinking_batches)."""
    out = []
    with tqdm(total=n, desc=desc, unit="img", leave=False,
              disable=n < 4 * batch_size or not dist.is_main()) as bar:
        for lo, hi, part in shrinking_batches(n, batch_size, run, device, what):
            out.append(part)
            bar.update(hi - lo)
    return torch.cat(out) if out else torch.empty(0)
