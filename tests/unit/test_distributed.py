"""Sharding rules and the single-process identities of engine.distributed."""

from __future__ import annotations

import pytest
import torch

from transferlab.engine import distributed as dist


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 9, 31, 256])
@pytest.mark.parametrize("world", [1, 2, 3, 4, 8])
def test_shards_are_disjoint_cover_everything_and_keep_order(n, world):
    index = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    parts = [dist.shard(index, r, world) for r in range(world)]
    assert torch.equal(torch.cat(parts), index)  # rank order restores the global order
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1  # balanced, no padding
    assert sizes == sorted(sizes, reverse=True)  # extras go to the first ranks
    assert n == 0 or sizes[0] > 0  # rank 0 always has work


def test_shard_is_deterministic_and_bounds_tile_the_range():
    index = torch.arange(37)
    assert all(torch.equal(dist.shard(index, r, 4), dist.shard(index.clone(), r, 4))
               for r in range(4))
    bounds = [dist.shard_bounds(37, r, 4) for r in range(4)]
    assert bounds == [(0, 10), (10, 19), (19, 28), (28, 37)]


def test_single_process_is_the_identity():
    assert not dist.is_distributed() and dist.is_main() and dist.world_size() == 1
    assert dist.init_from_env() is False  # no torchrun environment
    t = torch.randn(5, 3)
    assert dist.all_gather_tensor(t) is t
    mean = t.mean()
    assert dist.global_mean(mean, 5, 5) is mean  # no collective, no copy, same graph
    assert dist.broadcast_object({"a": 1}) == {"a": 1}
    assert dist.main_then_broadcast(lambda: "run-1") == "run-1"
    assert dist.any_rank(True) and not dist.any_rank(False)
    model = torch.nn.Linear(2, 2)
    assert dist.wrap_ddp(model, torch.device("cpu")) is model
    dist.check_global_batch(1)


def test_global_mean_weights_each_rank_mean_by_its_rows(tmp_path, monkeypatch):
    """The reduction itself, in a real one-rank gloo group taken for a distributed one: the
    result is the sum of rank-mean x rows over the global rows. A rank holding 3 of a 6-row
    global batch contributes mean x 3 / 6, an empty rank nothing, so an uneven last batch still
    averages over its rows.
    """
    import torch.distributed as tdist

    tdist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                             world_size=1)
    monkeypatch.setattr(dist, "is_distributed", lambda: True)
    try:
        rows = torch.tensor([1.0, 2.0, 6.0])
        got = dist.global_mean(rows.mean(), 3, 6)
        assert got.item() == pytest.approx(rows.sum().item() / 6)
        assert dist.global_mean(torch.tensor(0.0), 0, 4).item() == 0.0
        assert dist.any_rank(True) and not dist.any_rank(False)
    finally:
        tdist.destroy_process_group()


def test_local_batch_in_one_process_is_the_whole_batch_with_weight_one():
    from transferlab.data import ImageSet
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.loop import generator, local_batch

    images = torch.randint(0, 255, (6, 3, 8, 8), dtype=torch.uint8)
    data = ImageSet(images, torch.arange(6) % 2, ["a", "b"], "mem")
    pre = Preprocess(8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    idx = torch.tensor([4, 1, 3])
    x, y, w = local_batch(data, idx, pre, torch.device("cpu"), True, 7, 2.0, True)
    ref = data.batch(idx, pre, torch.device("cpu"), True, generator(7), 2.0, True)
    assert torch.equal(x, ref) and torch.equal(y, data.labels[idx]) and w == 1.0


def test_empty_shard_gives_zero_gradients_not_nan():
    from transferlab.engine.loop import train_step
    from transferlab.engine.strategies import Recipe

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    recipe = Recipe(2, 1, 8, 0.1)  # label smoothing 0.1, clipping 1.0
    loss = train_step(model, torch.zeros(0, 3, 2, 2), torch.zeros(0, dtype=torch.long), opt,
                      torch.device("cpu"), recipe, weight=0.0)
    assert float(loss) == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _as_rank(monkeypatch, rank: int, world: int) -> None:
    monkeypatch.setattr(dist, "rank", lambda: rank)
    monkeypatch.setattr(dist, "world_size", lambda: world)


def test_rank_rows_of_an_augmented_batch_are_the_single_process_rows(monkeypatch):
    from transferlab.data import ImageSet
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.loop import generator, local_batch

    images = torch.randint(0, 255, (9, 3, 8, 8), dtype=torch.uint8)
    data = ImageSet(images, torch.arange(9) % 3, ["a", "b", "c"], "mem")
    pre = Preprocess(8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    idx = torch.tensor([8, 0, 5, 2, 7])
    full = data.batch(idx, pre, torch.device("cpu"), True, generator(3), 2.0, True)
    _as_rank(monkeypatch, 1, 2)  # rank 1 of 2 takes rows 3:5 of 5
    x, y, w = local_batch(data, idx, pre, torch.device("cpu"), True, 3, 2.0, True)
    assert torch.equal(x, full[3:5]) and torch.equal(y, data.labels[idx[3:5]])
    assert w == 2 * 2 / 5  # rank means weighted back to the global-batch mean


def test_rank_rows_of_a_dict_input(monkeypatch):
    from transferlab.engine.loop import local_batch

    class Tokens:  # a data type whose batch is a dict of tensors, like tokenised text
        labels = torch.arange(4)

        def batch(self, index, pre, device, train=False, generator=None, shift=2.0, flip=True):
            return {"input_ids": index.view(-1, 1).repeat(1, 3), "attention_mask": index * 0}

    _as_rank(monkeypatch, 0, 2)
    x, y, w = local_batch(Tokens(), torch.tensor([3, 1, 2]), None, torch.device("cpu"), True,
                          0, 2.0, True)
    assert x["input_ids"][:, 0].tolist() == [3, 1] and len(x["attention_mask"]) == 2
    assert y.tolist() == [3, 1] and w == 2 * 2 / 3
