"""Perceptual hashes of decoded images (numpy only): dHash and pHash, 64 bits each.

A perceptual hash maps an image to 64 bits that change little when the image is resized,
re-encoded or shifted by a pixel or two, so near-duplicates are hashes a small Hamming distance
apart. Both hashes work on the stored uint8 (N, C, H, W) rows the loader already decoded, in
chunks (a file-backed set is read chunk by chunk), with one matrix product per resize: no
per-image Python.

- dHash: grey, box-resized to 9 x 8, one bit per horizontal neighbour pair (left < right).
- pHash: grey, box-resized to 32 x 32, 2-D DCT-II, the 8 x 8 lowest frequencies; a bit per
  coefficient above their median (as `imagehash.phash` does).

Before either, the grey image is centred (`align=True`): the background (median of the border
pixels) is subtracted and the window is moved so the content's centroid sits in the middle. A
1-2 px shift moves every edge the hashes compare; centring undoes most of it (bench, planted
shifted + resized + JPEG copies of Fashion-MNIST: median pHash distance 18 of 64 unaligned, 4
aligned). Which hash the health check uses by default was measured (bench/check_bench.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CHUNK = 2048  # images hashed per step: bounds memory at large stored sizes
HASH_BITS = 64
METHODS = ("phash", "dhash")
_BIT_WEIGHTS = (np.uint64(1) << np.arange(HASH_BITS, dtype=np.uint64))[::-1]


def box_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights that average each output cell's share of the input (a box filter).

    Works both ways: shrinking averages the covered pixels (with fractional edges), enlarging
    repeats them, like PIL's BOX resampling.
    """
    edges = np.linspace(0.0, n_in, n_out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def shifted_box(n_in: int, n_out: int, offset: np.ndarray) -> np.ndarray:
    """(N, n_out, n_in) box weights of a window moved by `offset` input pixels per image;
    what falls outside the image weighs nothing (the background, 0 after subtraction)."""
    edges = np.linspace(0.0, n_in, n_out + 1)[None, :] + offset[:, None]
    lo, hi = edges[:, :-1, None], edges[:, 1:, None]
    pix = np.arange(n_in)[None, None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return (overlap * (n_out / n_in)).astype(np.float32)


def grey_resized(images: np.ndarray, height: int, width: int, align: bool = True) -> np.ndarray:
    """uint8 (N, C, H, W) → float32 (N, height, width) grey, box-resized (centred if `align`)."""
    grey = np.asarray(images, dtype=np.float32).mean(axis=1)
    if not align:
        rows, cols = box_matrix(grey.shape[1], height), box_matrix(grey.shape[2], width)
        return np.einsum("hi,nij,wj->nhw", rows, grey, cols, optimize=True)
    n, h, w = grey.shape
    border = np.concatenate([grey[:, 0], grey[:, -1], grey[:, :, 0], grey[:, :, -1]], axis=1)
    grey = grey - np.median(border, axis=1)[:, None, None]
    weight = np.abs(grey)
    total = weight.sum(axis=(1, 2)) + 1e-6
    cy = weight.sum(axis=2) @ (np.arange(h) + 0.5) / total
    cx = weight.sum(axis=1) @ (np.arange(w) + 0.5) / total
    rows, cols = shifted_box(h, height, cy - h / 2), shifted_box(w, width, cx - w / 2)
    return np.einsum("nhi,nij,nwj->nhw", rows, grey, cols, optimize=True)


def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix: `D @ x` transforms a length-n column."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float32)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """bool (N, 64) → uint64 (N,), first bit most significant."""
    return (bits.reshape(len(bits), HASH_BITS).astype(np.uint64) * _BIT_WEIGHTS).sum(
        axis=1, dtype=np.uint64)


def dhash_block(images: np.ndarray, align: bool = True) -> np.ndarray:
    small = grey_resized(images, 8, 9, align)
    return pack_bits(small[:, :, 1:] > small[:, :, :-1])


_DCT32 = dct_matrix(32)[:8]  # only the 8 lowest frequencies are kept


def phash_block(images: np.ndarray, align: bool = True) -> np.ndarray:
    small = grey_resized(images, 32, 32, align)
    low = np.einsum("ai,nij,bj->nab", _DCT32, small, _DCT32, optimize=True).reshape(
        len(small), HASH_BITS)
    return pack_bits(low > np.median(low, axis=1, keepdims=True))


HASHERS: dict[str, Callable[..., np.ndarray]] = {
    "phash": phash_block, "dhash": dhash_block}


def image_hashes(images, method: str = "phash", align: bool = True,
                 chunk: int = CHUNK) -> np.ndarray:
    """uint64 perceptual hash per row of `images` (anything sliced by rows into uint8 arrays:
    a numpy array, a CPU tensor, a file-backed DiskImages)."""
    if method not in HASHERS:
        raise ValueError(f"unknown perceptual hash {method!r}; choose one of {METHODS}")
    n = len(images)
    out = np.empty(n, dtype=np.uint64)
    for start in range(0, n, chunk):
        out[start:start + chunk] = HASHERS[method](np.asarray(images[start:start + chunk]),
                                                   align)
    return out


def near_pairs(a: np.ndarray, b: np.ndarray | None = None, threshold: int = 4,
               chunk: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, distance) of every hash pair at Hamming distance <= `threshold`.

    Within `a` (b=None: pairs i < j) or between `a` and `b` (i in a, j in b). Exact: every pair
    is compared, vectorised as XOR + popcount over blocks of `chunk` rows into buffers made
    once (allocating a block per step was 4x slower), so 60,000 x 60,000 hashes take a few
    seconds and no pair is missed the way a banded index misses one when the threshold
    outgrows its bands.
    """
    within = b is None
    b = a if within else b
    width = len(b)
    xor = np.empty(chunk * width, dtype=np.uint64)  # flat: each block is a contiguous view
    dist = np.empty(chunk * width, dtype=np.uint8)
    hit = np.empty(chunk * width, dtype=bool)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, len(a), chunk):
        rows = min(chunk, len(a) - start)
        lo = start + 1 if within else 0  # within one set: the upper triangle only
        cols = width - lo
        x, d, h = (buf[:rows * cols].reshape(rows, cols) for buf in (xor, dist, hit))
        np.bitwise_xor(a[start:start + rows, None], b[None, lo:], out=x)
        np.bitwise_count(x, out=d)
        np.less_equal(d, threshold, out=h)
        if within:  # column c is image start+1+c: drop c < row (j <= i) near the diagonal
            k = min(rows, cols)
            h[:, :k][np.arange(k)[None, :] < np.arange(rows)[:, None]] = False
        flat = np.flatnonzero(h)
        if len(flat):
            r, c = np.divmod(flat, cols)
            found.append((r + start, c + lo, d.ravel()[flat]))
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint8)
    i, j, dd = (np.concatenate(parts) for parts in zip(*found))
    return i.astype(np.int64), j.astype(np.int64), dd.astype(np.uint8)
