"""How far the target data is from the source: proxy A-distance and MMD on backbone features.

Both figures compare two clouds of feature vectors (one per domain), so they say how different
the inputs look *to this backbone*, not how different the labels are:

- proxy A-distance (Ben-David et al. 2007; Ganin et al. 2016): train a linear classifier to tell
  source features from target features; PAD = 2(1 - 2 err) with err its cross-validated error.
  0 = indistinguishable (err 0.5), 2 = perfectly separable (err 0). Clipped at 0 below.
- MMD² with an RBF kernel (Gretton et al. 2012), bandwidth by the median heuristic, unbiased
  estimate on a seeded subsample: about 0 for one distribution, larger as they move apart.

The statistics are numpy/scikit-learn; `measure_domain_shift` extracts the features (torch) with
the same cached extraction `rank` and the probe use.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transferlab.data import ImageSet

PAD_FOLDS = 5
PAD_CS = (0.01, 0.1, 1.0)  # inverse regularisation strengths the inner CV chooses from
MMD_MAX = 500  # points per domain for MMD: O(n²) kernel matrices stay small
MAX_IMAGES = 1000  # images per domain whose features are extracted


def _balanced(xs: np.ndarray, xt: np.ndarray, n: int | None, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """The same number of rows from each domain (at most `n`), seeded: err 0.5 is chance."""
    rng = np.random.default_rng(seed)
    m = min(len(xs), len(xt), n or max(len(xs), len(xt)))
    return (xs[np.sort(rng.choice(len(xs), m, replace=False))],
            xt[np.sort(rng.choice(len(xt), m, replace=False))])


def proxy_a_distance(xs: np.ndarray, xt: np.ndarray, seed: int = 0, folds: int = PAD_FOLDS
                     ) -> dict:
    """PAD = 2(1 - 2 err): a logistic regression (C chosen by inner CV) separating the domains,
    err its `folds`-fold cross-validated error on balanced domains. Features are standardised
    inside each fold, so no statistic of a held-out fold leaks into its classifier."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xs, xt = _balanced(np.asarray(xs, float), np.asarray(xt, float), None, seed)
    if len(xs) < folds:
        raise ValueError(f"proxy A-distance needs at least {folds} samples per domain, "
                         f"got {len(xs)}")
    x = np.concatenate([xs, xt])
    y = np.r_[np.zeros(len(xs)), np.ones(len(xt))]
    clf = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=PAD_CS, cv=3, max_iter=1000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # sklearn 1.9's notice about its fitted attributes
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        acc = float(np.mean(cross_val_score(clf, x, y, cv=cv)))
    err = 1.0 - acc
    return {"pad": max(0.0, 2.0 * (1.0 - 2.0 * err)), "error": err, "per_domain": len(xs),
            "method": f"logistic regression, {folds}-fold CV error, PAD = 2(1 - 2 err)"}


def median_bandwidth(x: np.ndarray) -> float:
    """Median heuristic: the median pairwise distance of the pooled sample (1 if all equal)."""
    sq = _sq_dists(x, x)
    d = np.sqrt(sq[np.triu_indices(len(x), 1)])
    med = float(np.median(d)) if d.size else 0.0
    return med if med > 0 else 1.0


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(sq, 0.0)


def mmd_rbf(xs: np.ndarray, xt: np.ndarray, seed: int = 0, max_n: int = MMD_MAX) -> dict:
    """Unbiased MMD² (Gretton et al. 2012, eq. 3) with k(a, b) = exp(-|a-b|² / (2 σ²)), σ the
    median pairwise distance of the pooled subsample (at most `max_n` rows per domain)."""
    xs, xt = _balanced(np.asarray(xs, float), np.asarray(xt, float), max_n, seed)
    m = len(xs)
    if m < 2:
        raise ValueError(f"MMD needs at least 2 samples per domain, got {m}")
    sigma = median_bandwidth(np.concatenate([xs, xt]))
    k = lambda a, b: np.exp(-_sq_dists(a, b) / (2 * sigma**2))  # noqa: E731
    kss, ktt, kst = k(xs, xs), k(xt, xt), k(xs, xt)
    off = m * (m - 1)
    mmd2 = ((kss.sum() - np.trace(kss)) / off + (ktt.sum() - np.trace(ktt)) / off
            - 2.0 * kst.mean())
    return {"mmd2": float(mmd2), "bandwidth": sigma, "per_domain": m,
            "method": "unbiased MMD² (RBF kernel, median-heuristic bandwidth)"}


def domain_shift(xs: np.ndarray, xt: np.ndarray, seed: int = 0) -> dict:
    """Both figures for two feature matrices, JSON-ready."""
    pad, mmd = proxy_a_distance(xs, xt, seed), mmd_rbf(xs, xt, seed)
    return {"pad": pad["pad"], "pad_error": pad["error"], "mmd2": mmd["mmd2"],
            "mmd_bandwidth": mmd["bandwidth"], "images": {"source": len(xs), "target": len(xt)},
            "methods": {"pad": pad["method"], "mmd": mmd["method"]}}


def shift_line(shift: dict) -> str:
    """`domain shift source→target (features of B at 64px): PAD 1.42, MMD² 0.031`."""
    return (f"domain shift source→target (features of {shift['backbone']} at "
            f"{shift['image_size']}px, {shift['images']['source']}+{shift['images']['target']}"
            f" images): PAD {shift['pad']:.2f}, MMD² {shift['mmd2']:.3f}")


def _capped(data: ImageSet, n: int, seed: int) -> ImageSet:
    """A seeded subset of at most `n` images (features of 30,000 images would cost minutes)."""
    import torch

    if len(data) <= n:
        return data
    g = torch.Generator().manual_seed(seed)
    return data.subset(torch.sort(torch.randperm(len(data), generator=g)[:n]).values)


def measure_domain_shift(source: ImageSet, target: ImageSet, backbone_name: str,
                         device: str = "auto", image_size: int | None = None, seed: int = 0,
                         max_images: int = MAX_IMAGES,
                         log: Callable[[str], object] | None = None) -> dict:
    """PAD and MMD² between `source` and `target` images, on `backbone_name`'s pooled features
    (`forward_features`, cached like `rank`'s). At most `max_images` per domain, seeded."""
    from transferlab.data.transforms import Preprocess
    from transferlab.engine.device import resolve_device
    from transferlab.engine.features import extract_features
    from transferlab.engine.recipe import auto_image_size
    from transferlab.selection.ranking import build_candidate

    dev = resolve_device(device)
    backbone = build_candidate(backbone_name, seed).to(dev)
    size = image_size or auto_image_size(backbone.spec, target.source_size, dev)
    pre = Preprocess.from_spec(backbone.spec, size)
    src, tgt = _capped(source, max_images, seed), _capped(target, max_images, seed + 1)
    if log:
        log(f"domain shift: {backbone_name} features of {len(src)} source and {len(tgt)} "
            f"target images at {size}px ...")
    xs = extract_features(backbone, src, pre, dev).double().numpy()
    xt = extract_features(backbone, tgt, pre, dev).double().numpy()
    out = domain_shift(xs, xt, seed)
    out.update(backbone=backbone_name, image_size=size, source=source.source,
               target=target.source)
    return out
