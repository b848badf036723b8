"""--balance: class weights, the weighted loss, the balanced sampler, auto's rule, the probe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transferlab.config import RunConfig, SettingError
from transferlab.engine import balance as bal
from transferlab.engine.loop import epoch_batches, loss_fn, loss_mass
from transferlab.errors import ConfigError


def _labels(*counts: int) -> torch.Tensor:
    return torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])


def test_class_weights_inverse_count_mean_one():
    w = bal.class_weights([100, 10])
    assert w.tolist() == pytest.approx([2 / 11, 20 / 11])  # 0.1818.., 1.8181..
    assert float(w.mean()) == pytest.approx(1.0)
    # an absent class gets 0 and does not count in the mean
    assert bal.class_weights([30, 0, 10]).tolist() == pytest.approx([0.5, 0.0, 1.5])


def test_weighted_loss_is_the_hand_computed_weighted_mean():
    logits = torch.tensor([[2.0, 0.0], [0.5, 1.0], [0.0, 3.0], [1.0, -1.0]])
    y = torch.tensor([0, 0, 1, 0])
    w = torch.tensor([0.25, 1.75])
    ce = [-np.log(np.exp(r[t]) / np.exp(r).sum()) for r, t in zip(logits.numpy(), y.numpy())]
    wy = w[y].numpy()
    expected = float((wy * np.array(ce)).sum() / wy.sum())
    assert float(loss_fn(logits, y, 0.0, w)) == pytest.approx(expected, rel=1e-6)
    # label smoothing still applies to each image's loss before weighting
    smooth = F.cross_entropy(logits, y, label_smoothing=0.1, reduction="none").numpy()
    assert float(loss_fn(logits, y, 0.1, w)) == pytest.approx(
        float((wy * smooth).sum() / wy.sum()), rel=1e-6)
    assert float(loss_fn(logits, y, 0.1, w)) != pytest.approx(float(loss_fn(logits, y, 0.1)))
    # equal weights: the plain mean, whatever their scale
    assert float(loss_fn(logits, y, 0.1, torch.tensor([3.0, 3.0]))) == pytest.approx(
        float(loss_fn(logits, y, 0.1)), rel=1e-6)
    assert loss_mass(y, w) == pytest.approx(0.25 * 3 + 1.75) and loss_mass(y) == 4.0


def test_weighted_loss_split_by_mass_equals_whole_batch():
    """Micro-batches and DDP shards combine by weight mass: the same loss as one batch."""
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(10, 3, generator=g), torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 0])
    w = bal.class_weights([7, 2, 1])
    whole = float(loss_fn(logits, y, 0.1, w))
    parts = [(logits[:4], y[:4]), (logits[4:], y[4:])]
    mass = loss_mass(y, w)
    combined = sum(float(loss_fn(lg, t, 0.1, w)) * loss_mass(t, w) / mass for lg, t in parts)
    assert combined == pytest.approx(whole, rel=1e-6)


def test_sampler_batches_balanced_same_length_and_seeded():
    labels = _labels(90, 10)
    b = bal.resolve_balance("sampler", labels, ["big", "small"])
    sw = b.sample_weights(labels)
    batches = epoch_batches(len(labels), 16, seed=5, sample_weights=sw)
    plain = epoch_batches(len(labels), 16, seed=5)
    assert [len(x) for x in batches] == [len(x) for x in plain]  # same epoch length
    assert all(torch.equal(a, c) for a, c in zip(
        batches, epoch_batches(len(labels), 16, seed=5, sample_weights=sw)))
    assert not all(torch.equal(a, c) for a, c in zip(
        batches, epoch_batches(len(labels), 16, seed=6, sample_weights=sw)))
    # over 20 epochs (2,000 draws) each class is about half, not 90/10
    drawn = torch.cat([torch.cat(epoch_batches(100, 16, s, sw)) for s in range(20)])
    small_share = float((labels[drawn] == 1).float().mean())
    assert 0.45 < small_share < 0.55
    assert b.loss_weights is None  # the sampler leaves the loss unweighted


def test_auto_threshold_and_log_line():
    four = bal.resolve_balance("auto", _labels(40, 10), ["shirt", "bag"])
    assert four.mode == "logit-adjust" and four.ratio == 4.0
    assert four.line() == ("balance: auto → logit adjustment (largest/smallest = 4.0 > 3: "
                           "'shirt' 40, 'bag' 10)")
    assert four.loss_weights is None and four.probe_weights is None  # training untouched
    two = bal.resolve_balance("auto", _labels(20, 10), ["shirt", "bag"])
    assert two.mode == "none" and not two.active and two.loss_weights is None
    assert "≤ 3" in two.line()
    assert bal.resolve_balance("auto", _labels(30, 10), ["a", "b"]).mode == "none"  # not > 3
    assert bal.resolve_balance("none", _labels(100, 10), ["a", "b"]).mode == "none"
    even = bal.resolve_balance("auto", _labels(10, 10), ["a", "b"])
    assert even.line() == "balance: auto → none (classes balanced: 10 images each)"
    forced = bal.resolve_balance("weights", _labels(10, 10), ["a", "b"])
    assert forced.mode == "weights" and forced.loss_weights.tolist() == [1.0, 1.0]
    d = four.to_dict()
    assert d["setting"] == "auto" and d["resolved"] == "logit-adjust"
    assert d["class_weights"] == pytest.approx({"shirt": 0.4, "bag": 1.6})


def test_regression_auto_is_none_and_explicit_is_refused():
    y = torch.rand(20)
    assert bal.resolve_balance("auto", y, []).mode == "none"
    with pytest.raises(ConfigError, match="--balance sampler: regression"):
        bal.resolve_balance("sampler", y, [])
    with pytest.raises(SettingError, match="task regression has no classes"):
        RunConfig(task="regression", balance="weights")
    assert RunConfig(task="regression", balance="none").balance == "none"


def test_probe_gets_class_weight(monkeypatch):
    from transferlab.engine import probe

    seen = []
    real = probe.LogisticRegression

    def spy(**kw):
        seen.append(kw.get("class_weight"))
        return real(**kw)

    monkeypatch.setattr(probe, "LogisticRegression", spy)
    g = torch.Generator().manual_seed(0)
    y = _labels(40, 8)
    x = torch.randn(48, 5, generator=g) + y[:, None].float()
    weights = list(bal.resolve_balance("weights", y, ["a", "b"]).probe_weights)
    _w, _b, info = probe.fit_linear_probe(x, y, 2, seed=0, class_weight=weights)
    # sklearn's "balanced" scale: n / (classes x count); image weights sum to n
    assert seen[-1] == pytest.approx({0: 48 / 80, 1: 48 / 16})
    assert info["class_weight"] == pytest.approx({"0": 0.6, "1": 3.0})
    probe.fit_linear_probe(x, y, 2, seed=0)
    assert seen[-1] is None


def test_logit_adjust_subtracts_the_training_prior_times_t():
    """Counts 40:10 → prior (0.8, 0.2): the bias moves by -T·log π, so softmax(logits / T) is
    the calibrated posterior divided by π (renormalised): a balanced class mix."""
    from transferlab.model.heads import create_head

    la = bal.resolve_balance("logit-adjust", _labels(40, 10), ["a", "b"])
    assert la.log_prior.tolist() == pytest.approx([math.log(0.8), math.log(0.2)])

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = create_head("linear", 3, 2)
            self.info = type("Info", (), {"temperature": 2.0, "extra": {}})()

    net = Net()
    before = net.head[-1].bias.clone() if isinstance(net.head, torch.nn.Sequential) \
        else net.head.bias.clone()
    assert bal.adjust_logits(net, la)
    after = net.head[-1].bias if isinstance(net.head, torch.nn.Sequential) else net.head.bias
    assert (before - after).tolist() == pytest.approx([2 * math.log(0.8), 2 * math.log(0.2)],
                                                      abs=1e-6)
    assert net.info.extra["logit_adjustment"] == pytest.approx([math.log(0.8), math.log(0.2)],
                                                               abs=1e-6)
    assert not bal.adjust_logits(net, bal.resolve_balance("weights", _labels(40, 10),
                                                          ["a", "b"]))


def test_logit_adjusted_loss_is_cross_entropy_of_shifted_logits():
    logits = torch.tensor([[2.0, 0.0], [0.5, 1.0], [0.0, 3.0]])
    y = torch.tensor([0, 1, 1])
    offset = torch.tensor([math.log(0.8), math.log(0.2)])
    expected = F.cross_entropy(logits + offset, y, label_smoothing=0.1)
    assert float(loss_fn(logits, y, 0.1, None, offset)) == pytest.approx(float(expected))
    assert float(loss_fn(logits, y, 0.1, None, offset)) != pytest.approx(
        float(loss_fn(logits, y, 0.1)))


def test_only_the_loss_mode_has_a_loss_offset():
    y = _labels(40, 10)
    loss_mode = bal.resolve_balance("logit-adjust-loss", y, ["a", "b"])
    assert loss_mode.loss_offset.tolist() == pytest.approx([math.log(0.8), math.log(0.2)])
    assert loss_mode.line().startswith("balance: logit-adjusted loss (--balance "
                                       "logit-adjust-loss; largest/smallest = 4.0")
    for other in ("none", "weights", "sampler", "logit-adjust"):
        assert bal.resolve_balance(other, y, ["a", "b"]).loss_offset is None


def test_logit_adjusted_loss_reaches_the_posthoc_optimum_of_a_linear_model():
    """A linear classifier with a free bias, trained to convergence on 40:10 overlapping
    classes: minimising CE(z + log π) gives the same weights as plain CE and a bias lower by
    log π (up to a shared constant), i.e. exactly post-hoc logit adjustment. The loss mode
    moves the decision boundary toward the majority class as the post-hoc mode does."""
    g = torch.Generator().manual_seed(0)
    y = _labels(40, 10)
    x = torch.randn(50, 2, generator=g) + 1.2 * y[:, None].float()
    offset = bal.resolve_balance("logit-adjust-loss", y, ["a", "b"]).loss_offset

    def train(shift):
        lin = torch.nn.Linear(2, 2)
        torch.nn.init.zeros_(lin.weight), torch.nn.init.zeros_(lin.bias)
        opt = torch.optim.LBFGS(lin.parameters(), lr=1, max_iter=500, tolerance_grad=1e-10,
                                tolerance_change=1e-12, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = loss_fn(lin(x), y, 0.0, None, shift)
            loss.backward()
            return loss
        opt.step(closure)
        return lin.weight.detach(), lin.bias.detach()

    w0, b0 = train(None)
    w1, b1 = train(offset)
    assert torch.allclose(w1[1] - w1[0], w0[1] - w0[0], atol=1e-3)
    gap0, gap1 = float(b0[1] - b0[0]), float(b1[1] - b1[0])
    assert gap1 - gap0 == pytest.approx(-float(offset[1] - offset[0]), abs=1e-3)
    assert gap1 > gap0 + 1.0  # the minority class's bias is raised by log 4


def test_loss_mode_subtracts_nothing_after_training_except_from_a_probe():
    from transferlab.model.heads import create_head

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = create_head("linear", 3, 2)
            self.info = type("Info", (), {"temperature": 1.0, "extra": {}})()

    loss_mode = bal.resolve_balance("logit-adjust-loss", _labels(40, 10), ["a", "b"])
    net = Net()
    assert not bal.adjust_logits(net, loss_mode)  # a trained head learned the shift itself
    assert not bal.adjust_logits(net, loss_mode, last_phase="train")
    assert "logit_adjustment" not in net.info.extra
    assert bal.adjust_logits(net, loss_mode, last_phase="probe")  # the closed-form probe
    assert net.info.extra["logit_adjustment"] == pytest.approx([math.log(0.8), math.log(0.2)],
                                                               abs=1e-6)


def test_train_step_puts_the_offset_into_the_loss_it_differentiates():
    from transferlab.engine.loop import train_step
    from transferlab.engine.strategies import Recipe

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 3, generator=g), torch.tensor([0, 0, 0, 0, 1, 1])
    offset = torch.tensor([math.log(0.8), math.log(0.2)])
    recipe = Recipe(2, 1, len(y), 0.1, label_smoothing=0.0, grad_clip=None)
    stepped, manual = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    manual.load_state_dict(stepped.state_dict())
    train_step(stepped, x, y, torch.optim.SGD(stepped.parameters(), lr=0.5),
               torch.device("cpu"), recipe, logit_offset=offset)
    opt = torch.optim.SGD(manual.parameters(), lr=0.5)
    F.cross_entropy(manual(x) + offset, y).backward()
    opt.step()
    assert torch.allclose(stepped.bias, manual.bias, atol=1e-6)
    assert torch.allclose(stepped.weight, manual.weight, atol=1e-6)
