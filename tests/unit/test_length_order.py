"""Texts of one length per batch: inference in longest-first order gives every text the output
it gets in file order, and length-grouped training batches keep the epoch's rows and count."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from transferlab.engine.inference import in_index_order, longest_first
from transferlab.engine.loop import GROUP_BATCHES, epoch_batches

TEXTS = Path(__file__).parents[1] / "data" / "texts.csv"


class _Lengths:
    def __init__(self, lengths: list[int]) -> None:
        self.lengths = torch.tensor(lengths)

    def token_lengths(self) -> torch.Tensor:
        return self.lengths


def test_longest_first_is_undone_by_in_index_order():
    data = _Lengths([3, 9, 1, 9, 5])
    index = torch.arange(1, 5)  # a shard: rows 1..4
    order = longest_first(data, index)
    assert index[order].tolist() == [1, 3, 4, 2]  # stable: row 1 before row 3
    rows = index[order].float().unsqueeze(1) * 10  # "outputs" computed in that order
    assert in_index_order(rows, order).squeeze(1).tolist() == [10.0, 20.0, 30.0, 40.0]


def test_images_and_single_rows_keep_their_order():
    assert longest_first(object(), torch.arange(5)) is None  # no token lengths
    assert longest_first(_Lengths([4]), torch.arange(1)) is None
    out = torch.arange(3.0)
    assert in_index_order(out, None) is out


def _padding(batches: list[torch.Tensor], lengths: torch.Tensor) -> int:
    return sum(int(lengths[b].max()) * len(b) for b in batches)


@pytest.mark.parametrize("n", [7, 64, 1000])
def test_length_grouped_batches_hold_every_row_once_in_as_many_batches(n):
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(3, 128, (n,), generator=g)
    plain = epoch_batches(n, 16, seed=5)
    grouped = epoch_batches(n, 16, seed=5, lengths=lengths)
    assert len(grouped) == len(plain)
    assert sorted(torch.cat(grouped).tolist()) == sorted(torch.cat(plain).tolist())
    assert epoch_batches(n, 16, seed=5, lengths=lengths)[0].tolist() == grouped[0].tolist()
    if n >= 64:  # padded tokens per epoch: grouped batches pad far less
        assert _padding(grouped, lengths) < 0.8 * _padding(plain, lengths)


def test_grouping_sorts_only_within_windows_so_epochs_still_differ():
    n = 4 * GROUP_BATCHES * 8
    lengths = torch.arange(n) % 100
    a = epoch_batches(n, 8, seed=0, lengths=lengths)
    b = epoch_batches(n, 8, seed=1, lengths=lengths)
    assert [x.tolist() for x in a] != [x.tolist() for x in b]
    spread = [int(lengths[x].max() - lengths[x].min()) for x in a]
    assert sorted(spread)[len(spread) // 2] <= 5  # most batches: texts of about one length


def test_minilm_features_do_not_depend_on_the_order(tiny_bert):
    from transferlab.data.text_files import load_text_csv
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.features import compute_features
    from transferlab.model import build_model

    data = load_text_csv(TEXTS, max_length=32)
    model = build_model(tiny_bert, data.classes)
    data.prepare_for(model)
    assert int(data.token_lengths().min()) < int(data.token_lengths().max())

    class FileOrder:  # the same rows without token lengths: batched in file order
        def __len__(self) -> int:
            return len(data)

        def batch(self, *args, **kwargs):
            return data.batch(*args, **kwargs)

    pre = Preprocess.from_spec(model.spec, model.spec.input_size[-1])
    cpu = torch.device("cpu")
    plain = compute_features(model.backbone, FileOrder(), pre, cpu, batch_size=16)
    ordered = compute_features(model.backbone, data, pre, cpu, batch_size=16)
    torch.testing.assert_close(ordered, plain, atol=1e-5, rtol=1e-5)


def test_scratch_and_images_are_not_grouped_by_length():
    from transferlab.backbones.weights import WeightsSpec
    from transferlab.engine.loop import grouping_lengths
    from transferlab.engine.recipe import auto_recipe
    from transferlab.engine.strategies import phases_for

    spec = WeightsSpec(architecture="minilm", source="test", input_size=(128,), modality="text")
    recipe = auto_recipe(100, spec, 0, torch.device("cpu"))
    texts = _Lengths([5, 40, 7])
    grouped = {s: grouping_lengths(texts, recipe, phases_for(s, recipe, 8)[-1])
               for s in ("finetune", "lp-ft", "lora", "scratch")}
    assert grouped["scratch"] is None  # a random-init encoder learned less from such batches
    assert all(grouped[s].tolist() == [5, 40, 7] for s in ("finetune", "lp-ft", "lora"))
    finetune = phases_for("finetune", recipe, 8)[0]
    assert grouping_lengths(object(), recipe, finetune) is None  # images: no token lengths
    off = auto_recipe(100, spec, 0, torch.device("cpu"), {"group_by_length": False})
    assert grouping_lengths(texts, off, finetune) is None
