"""Near-copies of an image: a shortlist by thumbnail, then verification by shifted correlation.

A copy that was resized, re-encoded and shifted a pixel or two must be told apart from a
different product photographed the same way (Fashion-MNIST is full of such look-alikes). A
64-bit perceptual hash cannot: at the Hamming distance that finds 95% of planted copies it
also pairs tens of thousands of look-alikes (bench/check_bench.py keeps it as the baseline).
Instead, in numpy (the top-k in torch), at a cost linear in the number of images:

1. prepare (one matrix product per side, per chunk): grey, box-resized to SIZE x SIZE and
   Gaussian-blurred (SIGMA), for verification; and a THUMB x THUMB thumbnail of the same
   picture with its background (median border pixel) subtracted and its content's centroid
   moved to the middle, of the central part only (the edges are where a shift's fill lands).
2. shortlist: every image's K nearest neighbours by thumbnail correlation (chunked matrix
   products + top-k), so there are at most K candidates per image whatever the data.
3. verify: for each candidate pair, the best correlation between the first image's central
   window and the second's window at every shift up to SHIFT px; a copy correlates almost
   perfectly at its true offset, a look-alike at none (it differs in print, seams, outline).
   Pairs at or above MIN_SIMILARITY are near-copies.

Measured on Fashion-MNIST (10,000 train images, 1,000 copies shifted 1-2 px, resized to
22-56 px, JPEG q70-90; contended CPU): the shortlist holds 99% of the copies at K=4 (96% with
a whole-image 16 x 16 thumbnail: a shift's fill clips the edges; 93% at 8 x 8); verifying
on the uncentred images beats the centred ones (centring's sub-pixel resampling differs
between copy and original: 9,000+ clean pairs above the planted pairs' 2nd percentile,
against 24 uncentred); SIGMA=1 beats 0.5 or 1.5-2, SHIFT=3 (a 22 px window) beats 2.
"""

from __future__ import annotations

import numpy as np

SIZE = 28  # verification images are SIZE x SIZE (Fashion-MNIST's own size)
THUMB = 8  # shortlist thumbnails: THUMB x THUMB of the central SIZE - 2 * CROP pixels
CROP = 4
SIGMA = 1.0  # Gaussian blur, pixels of the SIZE x SIZE image
SHIFT = 3  # verification: the largest shift tried, each way, each axis
K = 4  # shortlist: nearest neighbours per image
DIMS = 24  # shortlist: thumbnails projected on their first DIMS principal axes
FLOOR = 0.9  # shortlist: neighbours correlated less are not candidates (see `candidates`)
MIN_SIMILARITY = 0.9975  # the verification cut-off, chosen in bench/check_bench.py (README)
CHUNK = 2048  # images (or pairs) per step: bounds memory


def box_matrix(n_in: int, n_out: int, offset: np.ndarray | None = None) -> np.ndarray:
    """Box-filter resize weights, (n_out, n_in), or (N, n_out, n_in) for windows moved by
    `offset` input pixels each; what falls outside the image weighs nothing (background)."""
    edges = np.linspace(0.0, n_in, n_out + 1)[None, :]
    if offset is not None:
        edges = edges + offset[:, None]
    lo, hi = edges[:, :-1, None], edges[:, 1:, None]
    pix = np.arange(n_in)[None, None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    out = (overlap * (n_out / n_in)).astype(np.float32)
    return out if offset is not None else out[0]


def gauss_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) Gaussian blur along one axis, each row summing to 1 (edges renormalised)."""
    x = np.arange(n)
    g = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)
    return (g / g.sum(axis=1, keepdims=True)).astype(np.float32)


_BLUR = gauss_matrix(SIZE, SIGMA)
_THUMB_ROWS = box_matrix(SIZE - 2 * CROP, THUMB) @ _BLUR[CROP:SIZE - CROP]  # crop, blur, shrink


def centred(grey: np.ndarray, out_rows: np.ndarray) -> np.ndarray:
    """float (N, H, W) grey → (N, m, m): background (median border pixel) 0, the content's
    centroid moved to the middle, resized to SIZE x SIZE and then by `out_rows` (m, SIZE)."""
    n, h, w = grey.shape
    border = np.concatenate([grey[:, 0], grey[:, -1], grey[:, :, 0], grey[:, :, -1]], axis=1)
    grey = grey - np.median(border, axis=1)[:, None, None]
    weight = np.abs(grey)
    total = weight.sum(axis=(1, 2)) + 1e-6
    cy = weight.sum(axis=2) @ (np.arange(h) + 0.5) / total
    cx = weight.sum(axis=1) @ (np.arange(w) + 0.5) / total
    rows = out_rows @ box_matrix(h, SIZE, cy - h / 2)
    cols = out_rows @ box_matrix(w, SIZE, cx - w / 2)
    return np.einsum("nhi,nij,nwj->nhw", rows, grey, cols, optimize=True)


def prepare_block(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, C, H, W) → (verification images (N, SIZE, SIZE), thumbnails (N, THUMB²))."""
    grey = np.asarray(images, dtype=np.float32).mean(axis=1)
    rows = _BLUR @ box_matrix(grey.shape[1], SIZE)
    cols = _BLUR @ box_matrix(grey.shape[2], SIZE)
    blurred = np.einsum("hi,nij,wj->nhw", rows, grey, cols, optimize=True)
    return blurred, unit_rows(centred(grey, _THUMB_ROWS))


def prepare(images, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """`prepare_block` over anything sliced by rows into uint8 arrays (numpy, a CPU tensor, a
    file-backed DiskImages), a chunk at a time."""
    n = len(images)
    blurred = np.empty((n, SIZE, SIZE), dtype=np.float32)
    thumbs = np.empty((n, THUMB * THUMB), dtype=np.float32)
    for start in range(0, n, chunk):
        blurred[start:start + chunk], thumbs[start:start + chunk] = prepare_block(
            np.asarray(images[start:start + chunk]))
    return blurred, thumbs


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows minus their mean, over their norm: dot products are then correlations (a flat
    row stays 0 and correlates with nothing)."""
    x = x.reshape(len(x), -1).astype(np.float32)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-6)


def shortlist(ta: np.ndarray, tb: np.ndarray | None = None, k: int = K,
              chunk: int = CHUNK, floor: float = -1.0) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (i in a, j in b): each row of `a`'s k most correlated rows of `b`,
    those correlated at least `floor`.

    Within `a` (b=None) an image is not its own neighbour and each pair comes once, i < j.
    Chunked matrix products and torch's top-k (multithreaded).
    """
    import torch

    within = tb is None
    b = torch.from_numpy(ta if within else tb)
    k = min(k, len(b) - (1 if within else 0))
    if k <= 0 or len(ta) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ii, jj = [], []
    for start in range(0, len(ta), chunk):
        a = torch.from_numpy(ta[start:start + chunk])
        sim = a @ b.T
        if within:
            rows = torch.arange(len(a))
            sim[rows, rows + start] = -2.0
        top = torch.topk(sim, k, dim=1, sorted=False)
        keep = (top.values >= floor).numpy().ravel()
        ii.append(np.repeat(np.arange(start, start + len(a)), k)[keep])
        jj.append(top.indices.numpy().ravel()[keep])
    i, j = np.concatenate(ii), np.concatenate(jj)
    if within:
        i, j = np.minimum(i, j), np.maximum(i, j)
        pairs = np.unique(i * len(ta) + j)
        i, j = np.divmod(pairs, len(ta))
    return i.astype(np.int64), j.astype(np.int64)


def _window_norms(pb: np.ndarray, shift: int) -> np.ndarray:
    """(N, (2·shift+1)²): per image of `pb` and per shift (dy, dx) in row order, the norm of
    the window minus its mean (its spread), from summed-area tables (no per-pair work)."""
    n, size = len(pb), pb.shape[1]
    win = size - 2 * shift
    offs = np.arange(2 * shift + 1)
    y0, x0 = np.repeat(offs, len(offs)), np.tile(offs, len(offs))
    sums = []
    for x in (pb, pb * pb):
        t = np.zeros((n, size + 1, size + 1), dtype=np.float64)
        t[:, 1:, 1:] = x.cumsum(1).cumsum(2)
        sums.append(t[:, y0 + win, x0 + win] - t[:, y0, x0 + win] - t[:, y0 + win, x0]
                    + t[:, y0, x0])
    s, ss = sums
    return np.sqrt(np.clip(ss - s * s / win ** 2, 0.0, None)).astype(np.float32)


def agreement(x, y, floor: float):
    """(2xy + floor) / (x² + y² + floor): 1 when equal, less as they part (SSIM's form)."""
    return (2 * x * y + floor) / (x * x + y * y + floor)


CONTRAST_FLOOR = 2.55 ** 2  # SSIM's C1 for 0-255 pixels: near-flat windows do not count


def similarity(pa: np.ndarray, pb: np.ndarray, i: np.ndarray, j: np.ndarray,
               shift: int = SHIFT, chunk: int = CHUNK) -> np.ndarray:
    """Best match, over shifts up to `shift` px, of pa[i]'s central window with the window of
    pb[j] at that shift, for each pair: 1.0 for a shifted copy, far less for a different one.

    The match is correlation x contrast agreement (SSIM's contrast term, of the windows'
    spreads). Correlation alone ignores contrast, and a product sold in two shades passes for
    a copy (4 of 12 clean pairs looked at, above the cut-off, were such pairs); with the
    contrast term, 10,000 Fashion-MNIST images: 14 clean pairs at recall 0.968 against ~25.
    SSIM's brightness term was worse (resizing and JPEG move a copy's mean more than its
    spread). Whole-pixel shifts only: a copy off by a fraction of a pixel at SIZE scores a
    little lower (0.9955 for a 64 px picture shifted 1 px, i.e. 0.44 px here); refining the
    peak between pixels (a parabola per axis) lifted look-alikes as much, so it is not done.
    Vectorised over pairs: per chunk, one multiply-and-sum per shift ((2·shift+1)² of them;
    a torch grouped convolution instead was 2x slower); the second image's window spreads
    come from summed-area tables.
    """
    size = pa.shape[1]
    win, side = size - 2 * shift, 2 * shift + 1
    norms = _window_norms(pb, shift)
    out = np.empty(len(i), dtype=np.float32)
    for start in range(0, len(i), chunk):
        ci, cj = i[start:start + chunk], j[start:start + chunk]
        wa = pa[ci, shift:shift + win, shift:shift + win].reshape(len(ci), -1)
        norm_a = np.linalg.norm(wa - wa.mean(axis=1, keepdims=True), axis=1)
        a = unit_rows(wa).reshape(-1, win, win)
        b = pb[cj]
        best = np.full(len(ci), -1.0, dtype=np.float32)
        for s in range(side * side):
            dy, dx = divmod(s, side)
            dot = np.einsum("nij,nij->n", a, b[:, dy:dy + win, dx:dx + win])
            norm = norms[cj, s]
            corr = np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 1e-6)
            np.maximum(best, corr * agreement(norm_a, norm, CONTRAST_FLOOR * win), out=best)
        out[start:start + chunk] = best
    return out


def candidates(a: np.ndarray, b: np.ndarray | None = None, k: int = K
               ) -> tuple[np.ndarray, np.ndarray]:
    """`shortlist` on thumbnails projected to DIMS principal axes (of a sample of the rows
    searched: `b`, or `a` within itself): the matrix products shrink 64/DIMS-fold. 20,000
    Fashion-MNIST images + 1,000 copies, K=4: 0.989 of the copies shortlisted at 24 axes,
    0.993 with all 64, 0.981 at 16. FLOOR=0.9 drops 14% of the candidates among 10,000
    images (25% of a 1,000-image train set's for 10,000 test images) and 0.1% of copies."""
    base = a if b is None else b
    _, _, axes = np.linalg.svd(base[::max(1, len(base) // 5000)], full_matrices=False)
    axes = axes[:DIMS].T
    return shortlist(unit_rows(a @ axes), None if b is None else unit_rows(b @ axes), k,
                     floor=FLOOR)


def near_copies(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray] | None = None,
                k: int = K, min_similarity: float = MIN_SIMILARITY
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, similarity) of the verified near-copy pairs among `prepare`d images: within `a`
    (b=None; i < j) or between `a` and `b` (each image of b against its k nearest in a)."""
    if b is None:
        i, j = candidates(a[1], None, k)
        sim = similarity(a[0], a[0], i, j)
    else:
        j, i = candidates(b[1], a[1], k)
        sim = similarity(a[0], b[0], i, j)
    keep = sim >= min_similarity
    return i[keep], j[keep], sim[keep]
