"""Rank candidate backbones on the user's labelled data before fine-tuning any of them.

Each candidate's features are extracted once (cached on disk for pretrained weights, as the
linear-probe strategy does), every estimator is computed from them and timed, and the rows come
back sorted by one estimator (LogME by default, the most reliable and cheapest of them).

Candidate names are whatever `create_backbone` accepts (bundled names, timm:/tv: names, a run
folder of a transferlab-pretrained model) plus `NAME@random`: the same architecture with random
weights, the "no transfer" reference every pretrained candidate should beat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from transferlab.backbones import Backbone, create_backbone
from transferlab.config import RunConfig
from transferlab.data import DataSplits, ImageSet
from transferlab.data.transforms import Preprocess
from transferlab.engine.device import resolve_device
from transferlab.engine.features import extract_features
from transferlab.engine.recipe import auto_image_size
from transferlab.errors import ConfigError, TransferlabError
from transferlab.results.runfolder import RunFolder
from transferlab.selection import bootstrap as bs
from transferlab.selection import estimators as est

RANDOM_SUFFIX = "@random"
DEFAULT_ESTIMATORS = ("logme", "leep", "knn", "linear")
AUTO_ESTIMATORS = ("logme", "leep", "knn")  # fit --backbone auto: skip the slower CV probe
TIE_MARK = "~top"  # ASCII: the table also goes to consoles that cannot print "≈"


@dataclass
class RankRow:
    """One candidate: its scores (None where an estimator does not apply) and what each cost."""

    backbone: str
    architecture: str
    pretrained: bool
    num_features: int
    image_size: int
    scores: dict[str, float | None]
    seconds: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)
    # per estimator (LogME, LEEP): where the score could lie on other samples of the same
    # size, from random halves of the images (selection/bootstrap.py); its seconds are not in
    # `seconds`
    intervals: dict[str, bs.Interval] = field(default_factory=dict)


@dataclass
class RankingReport:
    """Rows best first by `sort_by`; `to_dict()` is what ranking.json holds
    (RunFolder.write_ranking writes it)."""

    rows: list[RankRow]
    sort_by: str
    estimators: list[str]
    data: dict
    device: str
    total_seconds: float

    def winner(self, pretrained_only: bool = False) -> str:
        """The top candidate; `pretrained_only` skips `@random` references (they cannot be fit)."""
        for row in self.rows:
            if not (pretrained_only and row.backbone.endswith(RANDOM_SUFFIX)):
                return row.backbone
        raise ConfigError("no pretrained candidate to choose from; add one to --candidates")

    def tied_with_top(self, estimator: str | None = None) -> list[str]:
        """Candidates whose interval of `estimator` (default: the sort key) overlaps the top
        row's: this data cannot tell them from the top one. [] where there are no intervals."""
        name = estimator or self.sort_by
        if not self.rows:
            return []
        return bs.tied_with({r.backbone: r.intervals.get(name) for r in self.rows},
                            self.rows[0].backbone)

    def indistinguishable(self, a: str, b: str, estimator: str | None = None) -> bool | None:
        """True when the two candidates' intervals overlap, None when either has none."""
        name = estimator or self.sort_by
        rows = {r.backbone: r for r in self.rows}
        ia, ib = rows[a].intervals.get(name), rows[b].intervals.get(name)
        return None if ia is None or ib is None else ia.overlaps(ib)

    def to_dict(self) -> dict:
        return {"sort_by": self.sort_by, "estimators": self.estimators, "data": self.data,
                "device": self.device, "total_seconds": round(self.total_seconds, 3),
                "winner": self.rows[0].backbone if self.rows else None,
                "tied_with_top": self.tied_with_top(),
                "rows": [asdict(r) for r in self.rows]}

    def table(self) -> str:
        """Fixed-width table: rank, backbone, each estimator's score (seconds), feature time."""
        width = max([len("backbone")] + [len(r.backbone) for r in self.rows]) + 2
        tied = set(self.tied_with_top())
        head = f"{'rank':<6}{'backbone':<{width}}{'vs top':<8}" + "".join(
            f"{name + (' *' if name == self.sort_by else ''):<20}" for name in self.estimators)
        lines = [head + f"{'features (s)':<14}{self.sort_by} interval"]
        for i, row in enumerate(self.rows, 1):
            mark = "top" if i == 1 and row.intervals.get(self.sort_by) else (
                TIE_MARK if row.backbone in tied else "")
            cells = "".join(f"{_cell(row, name):<20}" for name in self.estimators)
            iv = row.intervals.get(self.sort_by)
            span = f"[{iv.low:.4f}, {iv.high:.4f}]" if iv else "n/a"
            lines.append(f"{i:<6}{row.backbone:<{width}}{mark:<8}{cells}"
                         f"{row.seconds['features']:<14.2f}{span}")
        lines.append(f"* sorted by {self.sort_by}; higher is better for every score; "
                     f"(s) = seconds")
        lines.append(self._tie_note())
        # measured in docs/RANKING.md: the one reading the scores support, said where it is read
        lines.append("scores tell backbones that transfer from ones that do not; close scores "
                     "among pretrained backbones do not predict their fine-tuned order: "
                     "fine-tune the top few (docs/RANKING.md)")
        return "\n".join(lines)


    def _tie_note(self) -> str:
        """What the 'vs top' column means, with the settings that produced it."""
        iv = next((r.intervals[self.sort_by] for r in self.rows
                   if r.intervals.get(self.sort_by)), None)
        if iv is None:
            return (f"vs top: no interval for {self.sort_by} (only "
                    f"{', '.join(bs.BOOTSTRAPPABLE)} are resampled), so no ties are marked")
        return (f"{TIE_MARK} = its {self.sort_by} interval ({iv.level:.0%}, {iv.rounds} random "
                f"halves of the images) overlaps the top one's: this data cannot tell the two "
                f"apart")


def _cell(row: RankRow, name: str) -> str:
    score = row.scores.get(name)
    if score is None:
        return "n/a"
    return f"{score:.4f} ({row.seconds.get(name, 0.0):.2f}s)"


def parse_candidate(name: str) -> tuple[str, bool]:
    """'NAME@random' → (NAME, False); anything else → (name, True)."""
    if name.endswith(RANDOM_SUFFIX):
        return name[: -len(RANDOM_SUFFIX)], False
    return name, True


def build_candidate(name: str, seed: int = 0) -> Backbone:
    """The backbone a candidate name stands for; random weights are seeded, so reproducible."""
    base, pretrained = parse_candidate(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_backbone(base, pretrained=pretrained)


def has_source_head(backbone: Backbone) -> bool:
    """True when the backbone carries its source task's own classifier (LEEP needs that): an
    ImageNet head, or the trained head of a transferlab model used as a backbone.

    Random-init backbones and plain state dicts have none (their heads would be random, and
    LEEP on random probabilities meaningless)."""
    return backbone.source_head is not None and backbone.spec.pretrained


@torch.inference_mode()
def source_probabilities(backbone: Backbone, features: torch.Tensor,
                         batch_size: int = 4096) -> np.ndarray:
    """softmax(source_head(features)) == softmax(forward_source(x)), from cached features."""
    head = backbone.source_head
    if head is None:
        raise ConfigError(f"{backbone.spec.architecture} has no source head")
    head = head.float().cpu().eval()
    out = [head(features[i:i + batch_size].float()).softmax(-1)
           for i in range(0, len(features), batch_size)]
    return torch.cat(out).double().numpy()


def _run_estimator(name: str, feats: np.ndarray, labels: np.ndarray, seed: int,
                   probs: np.ndarray | None) -> float:
    if name == "logme":
        return est.logme(feats, labels)
    if name == "leep":
        if probs is None:
            raise ConfigError("LEEP needs the source head's probabilities")
        return est.leep(probs, labels)
    if name == "knn":
        return est.knn_accuracy(feats, labels, seed=seed)
    if name == "linear":
        return est.linear_probe_accuracy(feats, labels, seed=seed)
    raise ConfigError(f"unknown estimator {name!r}; choose from {', '.join(est.ESTIMATORS)}")


def _not_applicable(name: str, backbone: Backbone, regression: bool) -> str | None:
    if name == "leep" and not has_source_head(backbone):
        return "no pretrained source head"
    if regression and name != "logme":
        return "classification only"
    return None


def score_backbone(name: str, data: ImageSet, device: torch.device, image_size: int | None,
                   estimators: Sequence[str], seed: int = 0, batch_size: int | None = None,
                   use_cache: bool = True, interval_rounds: int = bs.DEFAULT_ROUNDS) -> RankRow:
    """Build one candidate, extract its features once, and time every estimator on them;
    LogME and LEEP also get an interval from `interval_rounds` random halves (0 = none)."""
    t0 = time.perf_counter()
    backbone = build_candidate(name, seed).to(device)
    size = image_size or auto_image_size(backbone.spec, data.source_size, device)
    pre = Preprocess.from_spec(backbone.spec, size)
    features = extract_features(backbone, data, pre, device, batch_size, use_cache)
    seconds = {"features": round(time.perf_counter() - t0, 3)}
    feats = features.double().numpy()
    labels = data.labels.numpy()
    probs, scores, notes = None, {}, {}
    for est_name in estimators:
        t1 = time.perf_counter()
        reason = _not_applicable(est_name, backbone, data.is_regression)
        if reason is None and est_name == "leep" and probs is None:
            probs = source_probabilities(backbone, features)
        try:
            scores[est_name] = (None if reason
                                else _run_estimator(est_name, feats, labels, seed, probs))
        except TransferlabError as exc:  # e.g. too few images per class for k-fold CV
            scores[est_name], reason = None, str(exc)
        if reason:
            notes[est_name] = reason
        seconds[est_name] = round(time.perf_counter() - t1, 3)
    intervals = {}
    for est_name, score in scores.items():
        if score is not None and interval_rounds:
            iv = bs.score_interval(est_name, score, feats, labels, probs, interval_rounds,
                                   seed=seed)
            if iv is not None:
                intervals[est_name] = iv
    return RankRow(name, backbone.spec.architecture, backbone.spec.pretrained,
                   backbone.num_features, size, scores, seconds, notes, intervals)


def rank_backbones(data: DataSplits | ImageSet, backbone_names: Sequence[str],
                   device: torch.device | str = "auto", image_size: int | None = None,
                   estimators: Sequence[str] = DEFAULT_ESTIMATORS, sort_by: str = "logme",
                   seed: int = 0, batch_size: int | None = None, use_cache: bool = True,
                   log: Callable[[str], None] | None = None,
                   interval_rounds: int = bs.DEFAULT_ROUNDS) -> RankingReport:
    """Score every candidate on the labelled training images and sort them, best first.

    `data`: a DataSplits (its training split is used; validation and test stay unseen) or an
    ImageSet. `image_size` None = per backbone, the size the auto recipe would fine-tune at on
    this device, so the ranking sees what the fine-tune will see. `interval_rounds`: random
    halves per LogME/LEEP interval (selection/bootstrap.py), which mark ties; 0 = no intervals.
    """
    estimators = list(estimators)
    unknown = [e for e in estimators if e not in est.ESTIMATORS]
    if unknown or sort_by not in estimators:
        raise ConfigError(f"estimators {estimators} (sorted by {sort_by!r}): each must be one "
                          f"of {', '.join(est.ESTIMATORS)} and the sort key among them")
    if not backbone_names:
        raise ConfigError("no candidate backbones given; e.g. efficientnet_lite0,"
                          "efficientnet_lite0@random")
    train = data.train if isinstance(data, DataSplits) else data
    dev = resolve_device(device) if isinstance(device, str) else device
    t0 = time.perf_counter()
    rows = []
    for name in backbone_names:
        if log:
            log(f"ranking: scoring {name} on {len(train)} images ...")
        rows.append(score_backbone(name, train, dev, image_size, estimators, seed, batch_size,
                                   use_cache, interval_rounds))
    rows.sort(key=lambda r: (r.scores.get(sort_by) is None, -(r.scores.get(sort_by) or 0.0)))
    summary = {"source": train.source, "images": len(train), "classes": train.num_classes}
    return RankingReport(rows, sort_by, estimators, summary, str(dev), time.perf_counter() - t0)


def default_candidates() -> list[str]:
    """Every bundled backbone whose weights are installed (Lite0 always; Lite1/2 via extras)."""
    from transferlab.backbones import available_backbones

    return [b.name for b in available_backbones() if b.offline and ":" not in b.name]


def choose_backbone(cfg: RunConfig, splits: DataSplits, candidates: Sequence[str] | None,
                    run_dir: Path, log: Callable[[str], None] = print) -> str:
    """`fit --backbone auto`: rank the candidates on the training split and pick the best.

    Writes RUN/ranking.json, sets `cfg.backbone` to the winner (never an `@random` reference:
    it names no weights to fine-tune; it is reported as a warning if it outranks the winner),
    and rewrites RUN/config.yaml so a resumed run reuses the choice instead of ranking again.
    """
    names = list(candidates) if candidates else default_candidates()
    report = rank_backbones(splits, names, cfg.device, cfg.image_size,
                            estimators=AUTO_ESTIMATORS, seed=cfg.seed, log=log)
    ranking = RunFolder(run_dir).write_ranking(report.to_dict())
    log(report.table())
    winner = report.winner(pretrained_only=True)
    if report.rows[0].backbone != winner:
        log(f"warning: {report.rows[0].backbone} (random weights) outranks every pretrained "
            f"candidate: transfer may not help on this data; compare against --strategy scratch")
    log(f"backbone: auto -> {winner} (best {report.sort_by} of {len(names)} candidates; "
        f"{ranking}){_runner_up_note(report, winner)}")
    cfg.backbone = winner
    RunFolder(run_dir).write_config(cfg.to_dict())
    return winner


def _runner_up_note(report: RankingReport, winner: str) -> str:
    """'; X cannot be told apart ...' when the next pretrained candidate's interval overlaps
    the winner's (the winner is still the pick: it has the higher score)."""
    rest = [r.backbone for r in report.rows
            if r.backbone != winner and not r.backbone.endswith(RANDOM_SUFFIX)]
    if not rest or not report.indistinguishable(winner, rest[0]):
        return ""
    return (f"; {rest[0]} cannot be told apart from it on this data ({report.sort_by} "
            f"intervals overlap): `transferlab compare` both to choose")
