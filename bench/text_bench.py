"""Text transfer on real quotations: Debian's `fortunes` filed by category (issue 20, part 1).

The `fortunes` package (installed here with apt-get when it is missing, as scripts/setup.sh
installs Fashion-MNIST) ships thousands of quotations, one file per category, entries separated
by lines holding a single `%`. Six categories become six classes; an entry filed under two of
them, or twice, is dropped, so no text is both train and test or both classes. A seeded
held-out test split (`--test-per-class` texts of each class, the same for every strategy and
seed) is written next to a training CSV of all the other texts; each cell is then one `fit`
through the Python API with MiniLM (`--backbone`), the auto recipe, calibration off (it does not
change accuracy), `per_class` = 10, 50 or all of the training texts (`all` is every remaining
text, so classes are as unbalanced as the package), 3 seeds (the seed picks the training subset
and the initialisation). The table is test accuracy mean ± sd over seeds and the mean wall time
of one fit.

    python bench/text_bench.py                        # the benchmark (long on a CPU)
    python bench/text_bench.py --device cuda          # on a GPU
    python bench/text_bench.py --strategies finetune,lora --per-class 10,50
    python bench/text_bench.py --quick                # does it run? (2 strategies, 1 seed)
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORTUNES = Path("/usr/share/games/fortunes")
CATEGORIES = ("computers", "food", "love", "politics", "science", "sports")
BASE_STRATEGIES = ("linear-probe", "head", "finetune", "lp-ft", "scratch")
# nroff-era emphasis: `___\b\b\bword` or `_\bw_\bo...` underlining, `x\bx` bold
OVERSTRIKE = re.compile(r"_+\x08+|[^\n]\x08|\x08")


def default_strategies() -> list[str]:
    """The five the issue names, plus lora when this transferlab has it."""
    from transferlab.engine.strategies import STRATEGIES

    return list(BASE_STRATEGIES) + (["lora"] if "lora" in STRATEGIES else [])


def ensure_fortunes(folder: Path = FORTUNES) -> Path:
    """The fortunes folder; apt-get installs the package when it is missing and we may."""
    if (folder / CATEGORIES[0]).is_file():
        return folder
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("[text bench] installing Debian's fortunes package", file=sys.stderr)
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "fortunes"], env=env, check=True,
                       capture_output=True)
    if not (folder / CATEGORIES[0]).is_file():
        raise SystemExit(f"{folder} has no fortunes and apt-get is not usable here; install "
                         "Debian's `fortunes` package or pass --fortunes DIR")
    return folder


def read_fortunes(path: Path) -> list[str]:
    """Entries of one fortune file: blocks between `%` lines, overstrikes removed, whitespace
    collapsed to single spaces (line breaks in a quotation are layout, not content)."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    entries, block = [], []
    for line in raw.splitlines() + ["%"]:
        if line.strip() == "%":
            text = " ".join(OVERSTRIKE.sub("", "\n".join(block)).split())
            if text:
                entries.append(text)
            block = []
        else:
            block.append(line)
    return entries


def load_categories(folder: Path, categories: tuple[str, ...]) -> dict[str, list[str]]:
    """Texts per category, without duplicates and without texts filed under two categories."""
    found = {c: list(dict.fromkeys(read_fortunes(folder / c))) for c in categories}
    seen: dict[str, set[str]] = {}
    for c, texts in found.items():
        for t in texts:
            seen.setdefault(t, set()).add(c)
    return {c: [t for t in texts if len(seen[t]) == 1] for c, texts in found.items()}


def write_split(texts: dict[str, list[str]], n_test: int, seed: int,
                out: Path) -> tuple[Path, Path, dict[str, int]]:
    """train.csv + test.csv (text,label): n_test texts per class held out, chosen by `seed`."""
    rng = random.Random(seed)
    train, test, pool = [], [], {}
    for c in sorted(texts):
        items = list(texts[c])
        rng.shuffle(items)
        if len(items) <= n_test:
            raise SystemExit(f"category {c} has {len(items)} texts; it needs more than "
                             f"--test-per-class {n_test}")
        test += [(t, c) for t in items[:n_test]]
        train += [(t, c) for t in items[n_test:]]
        pool[c] = len(items) - n_test
    paths = out / "train.csv", out / "test.csv"
    for path, rows in zip(paths, (train, test)):
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows)
    return paths[0], paths[1], pool


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategies", help="comma-separated; default linear-probe, head, "
                   "finetune, lp-ft, scratch (+ lora when available)")
    p.add_argument("--per-class", default="10,50,all", help="training texts per class")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed, "
                   "first-seed + 1, ...: add a seed to an earlier run without repeating it")
    p.add_argument("--categories", default=",".join(CATEGORIES))
    p.add_argument("--test-per-class", type=int, default=40)
    p.add_argument("--split-seed", type=int, default=0, help="seed of the held-out test split")
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--epochs", type=int, help="default: the auto recipe's")
    p.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                   help="a recipe setting for every fit, e.g. group_by_length=false (to add "
                   "seeds to cells measured before a default changed); repeatable")
    p.add_argument("--device", default="auto")
    p.add_argument("--fortunes", default=str(FORTUNES), help="folder of fortune files")
    p.add_argument("--out", help="keep run folders here (default: a temporary folder)")
    p.add_argument("--quick", action="store_true", help="linear-probe and head, 1 seed, 10 "
                   "per class, 5 test texts per class, 2 epochs: checks it runs, measures nothing")
    args = p.parse_args()
    if args.quick:
        args.strategies, args.per_class, args.seeds = "linear-probe,head", "10", 1
        args.test_per_class, args.epochs = 5, 2
    return args


def recipe_settings(pairs: list[str]) -> dict:
    """KEY=VALUE pairs → a recipe dict, values read as YAML (false, 3, 1e-3, text)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--recipe {pair!r}: write KEY=VALUE, e.g. group_by_length=false")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key.strip()] = parsed
    return out


def cell(accs: list[float], secs: list[float]) -> str:
    """mean ± sd, then each seed's accuracy (to merge with other runs' seeds) and the mean wall."""
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    each = ", ".join(f"{a:.3f}" for a in accs)
    return f"{statistics.mean(accs):.3f} ± {sd:.3f} ({each}; {statistics.mean(secs):.0f} s)"


def run_bench(args: argparse.Namespace, out: Path) -> None:
    from transferlab.api.workflows import fit

    strategies = args.strategies.split(",") if args.strategies else default_strategies()
    recipe = recipe_settings(args.recipe)  # a bad KEY=VALUE stops the bench before any work
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    budgets = [b.strip() for b in args.per_class.split(",")]
    texts = load_categories(ensure_fortunes(Path(args.fortunes)),
                            tuple(args.categories.split(",")))
    train_csv, test_csv, pool = write_split(texts, args.test_per_class, args.split_seed, out)
    import torch

    from transferlab.engine.device import resolve_device

    device = resolve_device(args.device)
    quick = "; QUICK (not the benchmark)" if args.quick else ""
    print(f"text bench: fortunes {', '.join(f'{c} {n}' for c, n in pool.items())} training "
          f"texts; test {args.test_per_class} per class (split seed {args.split_seed}); "
          f"backbone {args.backbone}; strategies {', '.join(strategies)}; per class "
          f"{', '.join(budgets)}; seeds {seeds[0]}..{seeds[-1]}; epochs "
          f"{args.epochs or 'auto'}; recipe {recipe or 'auto'}; device "
          f"{device}; torch threads {torch.get_num_threads()}{quick}", flush=True)
    print("| strategy | "
          + " | ".join(f"{b} per class: acc ± sd (seeds; wall/fit)" for b in budgets)
          + " |\n|---|" + "---|" * len(budgets), flush=True)
    start = time.perf_counter()
    for strategy in strategies:
        cells = []
        for budget in budgets:
            accs, secs = [], []
            for seed in seeds:
                extra = {"epochs": args.epochs} if args.epochs else {}
                if recipe:
                    extra["recipe"] = recipe
                t0 = time.perf_counter()
                run = fit(str(train_csv), strategy, args.backbone, test_data=str(test_csv),
                          per_class=0 if budget == "all" else int(budget), seed=seed,
                          calibration="none", device=args.device, out=str(out),
                          name=f"{strategy}-{budget}-{seed}", log=None, **extra)
                secs.append(time.perf_counter() - t0)
                accs.append(run.metrics["accuracy"])
            cells.append(cell(accs, secs))
        print(f"| {strategy} | " + " | ".join(cells) + " |", flush=True)
    print(f"total wall time {time.perf_counter() - start:.0f} s")


def main() -> None:
    args = parse()
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        run_bench(args, Path(args.out))
        return
    with tempfile.TemporaryDirectory(prefix="transferlab-text-bench-") as tmp:
        run_bench(args, Path(tmp))


if __name__ == "__main__":
    main()
