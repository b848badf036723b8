"""Proxy A-distance and MMD² on feature clouds whose distance is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.selection.domain import domain_shift, mmd_rbf, proxy_a_distance


def gaussian(n: int, dim: int, shift: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, dim)) + shift


def test_pad_near_two_on_separable_features():
    xs, xt = gaussian(200, 16, 0.0, 0), gaussian(200, 16, 3.0, 1)
    pad = proxy_a_distance(xs, xt)
    assert pad["pad"] > 1.9 and pad["error"] < 0.03


def test_pad_near_zero_on_two_samples_of_one_gaussian():
    xs, xt = gaussian(300, 16, 0.0, 0), gaussian(300, 16, 0.0, 1)
    assert proxy_a_distance(xs, xt)["pad"] < 0.3


def test_pad_grows_with_the_shift():
    xs = gaussian(300, 8, 0.0, 0)
    pads = [proxy_a_distance(xs, gaussian(300, 8, s, 1))["pad"] for s in (0.0, 0.3, 3.0)]
    assert pads[0] < pads[1] < pads[2]


def test_mmd_about_zero_for_one_distribution_and_positive_when_shifted():
    xs, same, moved = gaussian(300, 16, 0, 0), gaussian(300, 16, 0, 1), gaussian(300, 16, 1, 2)
    zero, shifted = mmd_rbf(xs, same)["mmd2"], mmd_rbf(xs, moved)["mmd2"]
    assert abs(zero) < 0.01  # unbiased: scatters around 0, may dip below it
    assert shifted > 0.1 and shifted > 10 * abs(zero)


def test_mmd_subsamples_and_balances_the_domains():
    out = mmd_rbf(gaussian(900, 4, 0, 0), gaussian(120, 4, 0, 1), max_n=500)
    assert out["per_domain"] == 120 and out["bandwidth"] > 0


def test_domain_shift_is_json_ready_and_checks_sizes():
    import json

    out = domain_shift(gaussian(50, 4, 0, 0), gaussian(60, 4, 2, 1))
    json.dumps(out)
    assert set(out) >= {"pad", "mmd2", "pad_error", "methods"}
    with pytest.raises(ValueError):
        proxy_a_distance(gaussian(3, 4, 0, 0), gaussian(3, 4, 0, 1))
