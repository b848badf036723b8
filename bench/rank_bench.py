"""Do the transferability estimators rank backbones the way fine-tuning does? (issue 6)

On Fashion-MNIST (per-class budget, seeded), for each candidate backbone: every estimator's
score, the test accuracy it actually reaches when fine-tuned (`NAME@random` is trained from
scratch: same architecture, random init), Kendall's tau between each estimator and those
accuracies, and what ranking costs next to one fine-tune.

The transferlab-pretrained candidate: unless `--pretrained-run` names one, the bench makes it
first, as a user would with `transferlab fit`: EfficientNet-Lite0 fine-tuned on a *source task*,
Fashion-MNIST's five clothing classes (T-shirt .. Coat) drawn from training images outside the
bench's labelled sample, so the target task's footwear and bag classes are new to it and no
target image is seen twice. Ranking timings never use the feature cache.

    python bench/rank_bench.py                         # CPU: 64 px, 2,000 test images
    python bench/rank_bench.py --per-class 5 --max-test 200 --epochs 1 --source-per-class 20
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from scipy.stats import kendalltau

from transferlab.backbones.bundled import BUNDLED
from transferlab.config import RunConfig
from transferlab.rank import DEFAULT_ESTIMATORS, RankingReport, rank_backbones
from transferlab.rank.ranking import parse_candidate
from transferlab.runner import new_run_dir, prepare_data, run_strategy


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--max-test", type=int, default=2000)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--epochs", type=int, help="fine-tune epochs (default: the auto recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--pretrained-run", help="a transferlab run folder to rank as a backbone "
                   "(default: fit one on the source task, see above; 'none' = skip)")
    p.add_argument("--source-classes", default="0,1,2,3,4",
                   help="class indices of the source task for the pretrained candidate")
    p.add_argument("--source-per-class", type=int, default=300)
    p.add_argument("--backbones", help="comma list overriding the default candidates")
    p.add_argument("--out", default="runs/bench-rank")
    return p.parse_args(argv)


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
    from PIL import Image

    from transferlab.data import load_dataset
    from transferlab.data.sampling import per_class_sample

    train = load_dataset(args.data, "train", 28)
    used = set(per_class_sample(train.labels, args.per_class, args.seed).tolist())
    folder = out / "source-data"
    for c in (int(x) for x in args.source_classes.split(",")):
        (folder / train.classes[c]).mkdir(parents=True, exist_ok=True)
        idx = [i for i in torch.nonzero(train.labels == c).flatten().tolist() if i not in used]
        for i in idx[: int(args.source_per_class * 1.25)]:  # 20% of them become its test split
            Image.fromarray(train.images[i].permute(1, 2, 0).squeeze(-1).numpy()).save(
                folder / train.classes[c] / f"{i}.png")
    cfg = RunConfig(data=str(folder), strategy="finetune", per_class=None,
                    image_size=args.image_size, seed=args.seed, device=args.device,
                    out=str(out), name="source-run")
    print(f"pretraining the transferlab candidate on {args.source_classes} -> {out/'source-run'}")
    result = run_strategy(cfg, "finetune", prepare_data(cfg), out / "source-run",
                          log=lambda _: None)
    print(f"  source task accuracy {result.metrics['accuracy']:.4f} "
          f"({result.wall_seconds:.0f}s)")
    return str(out / "source-run")


def fine_tune(cfg: RunConfig, name: str, splits, out: Path) -> tuple[float, float]:
    """(test accuracy, wall seconds) of fine-tuning one candidate; @random → from scratch."""
    base, pretrained = parse_candidate(name)
    strategy = "finetune" if pretrained else "scratch"
    run_dir = out / f"ft-{Path(name).name.replace('@', '-')}"
    result = run_strategy(replace(cfg, backbone=base), strategy, splits, run_dir,
                          log=lambda _: None)
    return float(result.metrics["accuracy"]), result.wall_seconds


def correlations(report: RankingReport, accuracy: dict[str, float]) -> dict[str, float | None]:
    """Kendall's tau of each estimator against fine-tuned accuracy, over rows it scored."""
    taus: dict[str, float | None] = {}
    for est in report.estimators:
        pairs = [(r.scores[est], accuracy[r.backbone]) for r in report.rows
                 if r.scores.get(est) is not None]
        tau = kendalltau(*zip(*pairs)).statistic if len(pairs) >= 2 else None
        taus[est] = None if tau is None or tau != tau else round(float(tau), 3)  # NaN → None
    return taus


def print_results(report: RankingReport, accuracy: dict, ft_seconds: dict, taus: dict) -> None:
    print(report.table())
    print(f"\n{'backbone':<32}{'fine-tune acc':<16}{'rank s':<10}{'fine-tune s':<14}ratio")
    for r in sorted(report.rows, key=lambda r: -accuracy[r.backbone]):
        rank_s = sum(r.seconds.values())
        ft_s = ft_seconds[r.backbone]
        print(f"{r.backbone:<32}{accuracy[r.backbone]:<16.4f}{rank_s:<10.2f}{ft_s:<14.1f}"
              f"{rank_s / ft_s:.3f}")
    print("\nKendall's tau (estimator vs fine-tuned accuracy; n/a = fewer than 2 scored, "
          "or ties):")
    for est, tau in taus.items():
        print(f"  {est:<8}{'n/a' if tau is None else f'{tau:+.3f}'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = RunConfig(data=args.data, strategy="finetune", per_class=args.per_class,
                    max_test=args.max_test, image_size=args.image_size, epochs=args.epochs,
                    seed=args.seed, device=args.device, out=args.out)
    out = new_run_dir(cfg, "rank-bench")
    if not args.pretrained_run:
        args.pretrained_run = pretrain_source(args, out)
    splits = prepare_data(cfg)
    names = candidates(args)
    t0 = time.perf_counter()
    report = rank_backbones(splits, names, cfg.device, args.image_size,
                            estimators=DEFAULT_ESTIMATORS, seed=args.seed, log=print,
                            use_cache=False)
    rank_total = time.perf_counter() - t0
    accuracy, ft_seconds = {}, {}
    for name in names:
        print(f"fine-tuning {name} ...")
        accuracy[name], ft_seconds[name] = fine_tune(cfg, name, splits, out)
    taus = correlations(report, accuracy)
    print_results(report, accuracy, ft_seconds, taus)
    print(f"\nranking all {len(names)}: {rank_total:.1f}s; fine-tuning all: "
          f"{sum(ft_seconds.values()):.1f}s")
    (out / "rank_bench.json").write_text(json.dumps(
        {"args": vars(args), "ranking": report.to_dict(), "accuracy": accuracy,
         "fine_tune_seconds": ft_seconds, "ranking_seconds": rank_total, "kendall_tau": taus},
        indent=2))
    print(f"results: {out / 'rank_bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
