"""The baseline bench/check_bench.py measures the near-copy search against: a 64-bit pHash.

pHash as `imagehash.phash` computes it (grey, 32 x 32, 2-D DCT-II, a bit per coefficient of
the 8 x 8 lowest frequencies above their median), on the same centred grey image the
shortlist uses (nearcopy.centred: without centring a 1-2 px shift alone moves the hash by
~18 bits), and the exact XOR + popcount search for pairs within a Hamming distance. It was
transferlab's first near-duplicate test; it lives here because it cannot separate copies from
look-alikes (the bench prints how far off it is), so the package no longer uses it.
"""

from __future__ import annotations

import numpy as np

from transferlab.data.nearcopy import SIZE, box_matrix, centred

HASH_BITS = 64
_BIT_WEIGHTS = (np.uint64(1) << np.arange(HASH_BITS, dtype=np.uint64))[::-1]


def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix: `D @ x` transforms a length-n column."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float32)


_DCT8 = dct_matrix(32)[:8]
_TO32 = box_matrix(SIZE, 32)


def phash(images, chunk: int = 2048) -> np.ndarray:
    """uint64 pHash per row of `images` (uint8 (N, C, H, W), sliced by rows)."""
    out = np.empty(len(images), dtype=np.uint64)
    for start in range(0, len(images), chunk):
        grey = np.asarray(images[start:start + chunk], dtype=np.float32).mean(axis=1)
        small = centred(grey, _TO32)
        low = np.einsum("ai,nij,bj->nab", _DCT8, small, _DCT8, optimize=True).reshape(
            len(small), HASH_BITS)
        bits = (low > np.median(low, axis=1, keepdims=True)).astype(np.uint64)
        out[start:start + chunk] = (bits * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)
    return out


def pair_distances(a: np.ndarray, b: np.ndarray | None, threshold: int,
                   chunk: int = 64) -> np.ndarray:
    """Hamming distances <= `threshold` of every pair: within `a` (b=None, i < j) or a x b."""
    within = b is None
    b = a if within else b
    found = []
    for start in range(0, len(a), chunk):
        d = np.bitwise_count(a[start:start + chunk, None] ^ b[None, :])
        if within:  # the upper triangle: column > row
            d[np.arange(len(b))[None, :] <= np.arange(start, start + len(d))[:, None]] = 255
        found.append(d[d <= threshold])
    return np.concatenate(found) if found else np.empty(0, np.uint8)
