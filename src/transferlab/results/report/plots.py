"""PNG plots of a run: each function takes plain data, writes one file and returns its path.

Plots are drawn with matplotlib's Agg backend, chosen here rather than at package import, so
importing transferlab never changes the backend of a user's notebook and reports render on
headless machines (CI, servers) that have no display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

DPI = 100
GOOD, BAD, BASE, NEUTRAL = "#2f855a", "#c53030", "#718096", "#3182ce"

plt.rcParams.update({"axes.spines.top": False, "axes.spines.right": False,
                     "axes.grid": True, "grid.alpha": 0.3, "font.size": 10,
                     "axes.titleweight": "bold", "figure.constrained_layout.use": True})


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _val_metric(history: list[dict]) -> tuple[str, list[float | None]]:
    """Accuracy for classification, RMSE for regression: whichever the val rows carry."""
    vals = [row.get("val") or {} for row in history]
    key = "accuracy" if any("accuracy" in v for v in vals) else "rmse"
    return key, [v.get(key) for v in vals]


def phase_spans(history: list[dict]) -> list[tuple[str, int, int]]:
    """(phase, first epoch, last epoch) with epochs counted 1.. across the whole run."""
    spans: list[tuple[str, int, int]] = []
    for i, row in enumerate(history, start=1):
        name = str(row.get("phase", ""))
        if spans and spans[-1][0] == name:
            spans[-1] = (name, spans[-1][1], i)
        else:
            spans.append((name, i, i))
    return spans


def learning_curves(history: list[dict], path: Path, title: str = "") -> Path:
    """Train loss and the validation metric per epoch, with phase changes as vertical lines.

    Epochs restart at 0 in each phase of a multi-phase strategy (LP-FT, gradual), so the x axis
    counts epochs over the whole run and the phase boundaries say where the regime changed.
    """
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6))
    x = np.arange(1, len(history) + 1)
    loss = [row.get("train_loss") for row in history]
    lx = [xi for xi, v in zip(x, loss) if v is not None]
    ax_loss.plot(lx, [v for v in loss if v is not None], "o-", color=NEUTRAL, ms=4)
    ax_loss.set(title="train loss", xlabel="epoch (whole run)", ylabel="loss")
    key, val = _val_metric(history)
    vx = [xi for xi, v in zip(x, val) if v is not None]
    ax_val.plot(vx, [v for v in val if v is not None], "o-", color=GOOD, ms=4)
    ax_val.set(title=f"validation {key}", xlabel="epoch (whole run)", ylabel=key)
    if not lx:
        ax_loss.text(0.5, 0.5, "no SGD epochs\n(closed-form probe)", ha="center", va="center",
                     transform=ax_loss.transAxes, color=BASE)
        ax_loss.set_yticks([])
    if not vx:
        ax_val.text(0.5, 0.5, "no validation split", ha="center", va="center",
                    transform=ax_val.transAxes, color=BASE)
        ax_val.set_yticks([])
    spans = phase_spans(history)
    for ax in (ax_loss, ax_val):
        for name, first, last in spans:
            ax.text((first + last) / 2, 0.97, name, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=8, color=BASE,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        for _name, first, _last in spans[1:]:
            ax.axvline(first - 0.5, color=BAD, ls="--", lw=1)
        ax.set_xlim(0.5, max(len(history), 1) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if title:
        fig.suptitle(title, fontweight="bold")
    return _save(fig, path)


def _matrix(ax: Any, m: np.ndarray, classes: Sequence[str], title: str, fmt: str) -> None:
    im = ax.imshow(m, cmap="Blues", vmin=0)
    n = len(classes)
    ax.set(title=title, xlabel="predicted", ylabel="true", xticks=range(n), yticks=range(n))
    ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(classes, fontsize=8)
    ax.grid(False)
    if n <= 20:
        top = m.max() if m.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, format(m[i, j], fmt), ha="center", va="center",
                        fontsize=7 if n > 10 else 9,
                        color="white" if top and m[i, j] > 0.6 * top else "black")
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def confusion_matrix(cm: Sequence[Sequence[int]], classes: Sequence[str], path: Path) -> Path:
    """Counts (how many) next to row-normalized rates (which classes get confused, any size)."""
    m = np.asarray(cm, dtype=float)
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    side = max(4.5, 0.45 * len(classes) + 2.5)
    fig, (a, b) = plt.subplots(1, 2, figsize=(2 * side + 1, side))
    _matrix(a, m.astype(int), classes, "confusion matrix (counts)", "d")
    _matrix(b, norm, classes, "row-normalized (recall per class)", ".2f")
    return _save(fig, path)


def per_class_bars(per_class: list[dict], path: Path) -> Path:
    """Precision, recall and F1 side by side per class: which classes the model fails on."""
    names = [str(c["class"]) for c in per_class]
    x = np.arange(len(names))
    w = 0.27
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(names) + 2), 3.6))
    for k, (key, colour) in enumerate((("precision", NEUTRAL), ("recall", "#dd6b20"),
                                       ("f1", GOOD))):
        ax.bar(x + (k - 1) * w, [c.get(key, 0.0) for c in per_class], w, label=key,
               color=colour)
    ax.set(ylim=(0, 1.2), ylabel="score", title="per-class precision / recall / F1")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.legend(ncol=3, loc="upper right", fontsize=8, framealpha=0.9)
    return _save(fig, path)


def _as_hwc(img: np.ndarray) -> np.ndarray:
    """(C,H,W) uint8 → something imshow draws: (H,W) grey or (H,W,3) colour."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[0] in (1, 3, 4):
        img = np.moveaxis(img, 0, -1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    return img


def wrong_grid(predictions: dict[str, np.ndarray], classes: Sequence[str], path: Path,
               cols: int = 6) -> Path | None:
    """The most confidently wrong test images with true/predicted labels, or None if none.

    Confident mistakes are where label noise, look-alike classes and preprocessing bugs show up
    first, so they are worth a glance before trusting an accuracy number.
    """
    images = predictions.get("wrong_images")
    index = predictions.get("wrong_index")
    if images is None or index is None or len(images) == 0:
        return None
    y_true, y_pred = predictions["y_true"][index], predictions["y_pred"][index]
    conf = predictions.get("confidence")
    conf = conf[index] if conf is not None else [None] * len(index)

    def name(i: int) -> str:
        text = str(classes[i]) if 0 <= i < len(classes) else str(i)
        return text if len(text) <= 16 else text[:15] + "…"

    # Cells placed in inches by hand: a fixed grid needs no layout solver, which is the slow
    # part of drawing 16 small axes.
    cols = min(cols, len(images))
    rows = int(np.ceil(len(images) / cols))
    cell_w, cell_h, side, top = 2.0, 2.3, 1.6, 0.45
    width, height = cell_w * cols + 0.2, cell_h * rows + top
    fig = plt.figure(figsize=(width, height), layout="none")
    for k, (img, t, p, c) in enumerate(zip(images, y_true, y_pred, conf)):
        r, col = divmod(k, cols)
        left = 0.1 + col * cell_w + (cell_w - side) / 2
        bottom = height - top - (r + 1) * cell_h + 0.1
        ax = fig.add_axes((left / width, bottom / height, side / width, side / height))
        ax.axis("off")
        ax.imshow(_as_hwc(img), cmap="gray", vmin=0, vmax=255)
        extra = f" ({c:.0%})" if c is not None else ""
        ax.set_title(f"true: {name(int(t))}\npred: {name(int(p))}{extra}", fontsize=9,
                     color=BAD)
    fig.suptitle("most confidently wrong test images", fontweight="bold", y=1 - 0.08 / height)
    return _save(fig, path)


def regression_scatter(predictions: dict[str, np.ndarray], path: Path) -> Path:
    """Predicted vs true target: bias and heteroscedastic errors show at a glance."""
    y, p = predictions["y_true"].astype(float), predictions["y_pred"].astype(float)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y, p, s=10, alpha=0.6, color=NEUTRAL)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], "--", color=BASE, lw=1)
    ax.set(xlabel="true", ylabel="predicted", title="test predictions")
    return _save(fig, path)


def _bar_colours(rows: list[dict], baseline: str | None) -> list[str]:
    out = []
    for r in rows:
        gain = r.get("transfer_gain")
        out.append(BASE if r["strategy"] == baseline else
                   NEUTRAL if gain is None else GOOD if gain >= 0 else BAD)
    return out


def strategy_bars(rows: list[dict], baseline: str | None, path: Path) -> Path:
    """Test score and wall time per strategy, with the scratch baseline as a reference line.

    Green bars beat scratch, red bars lost to it (negative transfer), grey is scratch itself.
    """
    regression = any(r.get("accuracy") is None for r in rows)
    key = "rmse" if regression else "accuracy"
    names = [r["strategy"] for r in rows]
    colours = _bar_colours(rows, baseline)
    base = next((r for r in rows if r["strategy"] == baseline), None)
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.6 * len(rows) + 3), 3.8))
    for ax, k, label in ((axes[0], key, f"test {key}"), (axes[1], "wall_seconds", "wall time (s)")):
        values = [float(r.get(k) or 0.0) for r in rows]
        bars = ax.bar(names, values, color=colours)
        fmt = "{:.1f}" if k == "wall_seconds" else "{:.3f}"
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=8, padding=2)
        if base is not None and base.get(k) is not None:
            ax.axhline(float(base[k]), color=BASE, ls="--", lw=1.2, label=f"{baseline}")
            ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
        ax.set(title=label + (" (lower is better)" if k == "rmse" else ""), ylabel=label)
        ax.set_ylim(0, max(values + [1e-9]) * 1.18 if k != "accuracy" else 1.08)
        ax.tick_params(axis="x", labelrotation=20)
    return _save(fig, path)


def accuracy_vs_labels(points: Sequence[tuple[float, Any]], path: Path) -> Path:
    """Test score per strategy against labelled images per class, one line per strategy.

    `points` pairs a labels-per-class value with a comparison report (a `comparison.json` dict
    or a `ComparisonReport`). This is the curve that says how much labelling transfer saves:
    the horizontal distance between a transfer line and the scratch line.
    """
    series: dict[str, list[tuple[float, float]]] = {}
    regression = False
    for per_class, report in sorted(points, key=lambda p: p[0]):
        rows = report["rows"] if isinstance(report, dict) else report.rows
        for r in rows:
            score = r.get("accuracy")
            if score is None:
                regression, score = True, r.get("rmse")
            if score is not None:
                series.setdefault(r["strategy"], []).append((float(per_class), float(score)))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, xy in series.items():
        xs, ys = zip(*xy)
        style = {"color": BASE, "ls": "--"} if name == "scratch" else {"ls": "-"}
        ax.plot(xs, ys, marker="o", label=name, **style)
    ax.set_xscale("log")
    ticks = sorted({x for xy in series.values() for x, _ in xy})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    key = "rmse" if regression else "accuracy"
    ax.set(xlabel="labelled images per class (log scale)", ylabel=f"test {key}",
           title=f"test {key} vs labels per class")
    ax.legend(fontsize=8)
    return _save(fig, path)
