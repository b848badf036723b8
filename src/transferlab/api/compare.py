"""Several strategies under the same data, seed and budget, judged against training from scratch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from transferlab.api.backbone_list import Candidate, plan
from transferlab.api.domain import source_shift
from transferlab.api.runner import StrategyResult, new_run_dir, prepare_data, run_strategy
from transferlab.config import RunConfig
from transferlab.engine.strategies import STRATEGIES
from transferlab.results.metrics import rank_score
from transferlab.results.provenance import provenance_line, source_provenance
from transferlab.results.report import write_report_safely
from transferlab.results.runfolder import RunFolder
from transferlab.results.verdict import fmt_ci, judge, pair_line


@dataclass
class ComparisonReport:
    rows: list[dict]
    baseline: str | None
    warnings: list[str]
    run_dir: Path
    results: list[StrategyResult] = field(default_factory=list, repr=False)  # full metrics
    # the verdict (results/verdict.py): paired tests, per-class gain, recommendation
    pairs: list[dict] = field(default_factory=list)
    per_class_gain: dict | None = None
    notes: list[str] = field(default_factory=list)
    recommendation: str | None = None
    methods: dict = field(default_factory=dict)
    seed_results: dict[str, list[StrategyResult]] = field(default_factory=dict, repr=False)
    domain_shift: dict | None = None  # --source-data: PAD and MMD² source→target
    # compare --backbones: each backbone once (label, name, source run provenance)
    backbones: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "baseline": self.baseline, "warnings": self.warnings,
                "run_dir": str(self.run_dir), "recommendation": self.recommendation,
                "notes": self.notes, "pairs": self.pairs,
                "per_class_gain": self.per_class_gain, "methods": self.methods,
                "domain_shift": self.domain_shift,
                **({"backbones": self.backbones} if self.backbones else {})}


def build_report(results: list[StrategyResult], run_dir: Path,
                 seed_results: dict[str, list[StrategyResult]] | None = None,
                 extras: dict[str, dict] | None = None) -> ComparisonReport:
    """Rows with gains over scratch, judged by paired tests on the same test images.

    `seed_results`: the extra training seeds of each strategy (compare --seeds); `results`
    holds each strategy's first seed, whose predictions the paired tests use. `extras`: fields
    added to a row by name (compare --backbones: backbone, label, method, source).
    """
    rows = [r.row() | (extras or {}).get(r.strategy, {}) for r in results]
    base = next((r for r in rows if r["strategy"] == "scratch"), None)
    for r, res in zip(rows, results, strict=True):
        r["ci95"] = getattr(res, "metrics", {}).get("ci95")
        if base is None or r is base:
            r["transfer_gain"] = None
            continue
        gain = rank_score(r) - rank_score(base)  # a missing metric: no gain, not +-inf
        r["transfer_gain"] = gain if math.isfinite(gain) else None
    seeds = {res.strategy: [(res.seed, res.metrics)] + [(x.seed, x.metrics) for x in extra]
             for res in results if (extra := (seed_results or {}).get(res.strategy))}
    verdict = judge(rows, strategy_predictions(results), class_names(results),
                    "scratch" if base else None, seeds)
    methods = {"intervals": next((r["ci95"]["method"] for r in rows if r.get("ci95")), None),
               **verdict["methods"]}
    return ComparisonReport(rows, "scratch" if base else None, verdict["warnings"], run_dir,
                            results, verdict["pairs"], verdict["per_class_gain"],
                            verdict["notes"], verdict["recommendation"], methods,
                            dict(seed_results or {}))


def strategy_predictions(results: list[StrategyResult]) -> dict[str, tuple]:
    """(y_true, y_pred) per strategy: held in memory, else the run's predictions.npz."""
    out = {}
    for r in results:
        y_true, y_pred = getattr(r, "y_true", None), getattr(r, "y_pred", None)
        if y_pred is None and getattr(r, "run_dir", None) is not None:
            saved = RunFolder(r.run_dir).read_predictions(required=False) or {}
            y_true, y_pred = saved.get("y_true"), saved.get("y_pred")
        if y_true is not None and y_pred is not None:
            out[r.strategy] = (y_true, y_pred)
    return out


def class_names(results: list[StrategyResult]) -> list[str] | None:
    """The classes of a classification comparison; None for regression."""
    for r in results:
        per_class = getattr(r, "metrics", {}).get("per_class")
        if per_class:
            return [str(c["class"]) for c in per_class]
    return None


def compare(cfg: RunConfig, log=print, backbones: list[str] | None = None
            ) -> ComparisonReport:
    """Every strategy on one split; with `backbones`, every backbone x every transfer
    strategy (scratch once), rows named LABEL.STRATEGY (api/backbone_list.py)."""
    for s in cfg.strategies:
        if s not in STRATEGIES:
            from transferlab.errors import ConfigError

            raise ConfigError(f"unknown strategy {s!r}; choose from {', '.join(STRATEGIES)}")
    if "lora" in cfg.strategies:  # before any folder or data: the install line
        from transferlab.engine.lora import require_peft

        require_peft()
    rows = (plan(backbones, cfg.strategies) if backbones else
            [Candidate(s, cfg.backbone, None, s) for s in cfg.strategies])
    run_dir = new_run_dir(cfg, "compare")
    log(f"run folder: {run_dir}")
    splits = prepare_data(cfg, log)
    folder = RunFolder(run_dir)
    extras = {c.name: candidate_fields(c) for c in rows} if backbones else {}
    table = backbone_table(rows, extras)
    folder.write_config(cfg.to_dict(), **({"compare": {"backbones": table}} if table else {}))
    folder.write_data(splits.summary())
    # None without --source-data; measured on the first row's backbone
    shift = source_shift(cfg, splits, rows[0].backbone, run_dir, log)
    results = [run_candidate(cfg, c, splits, run_dir, log) for c in rows]
    extra = {c.name: run_extra_seeds(with_backbone(cfg, c), c, splits, run_dir / c.name, log)
             for c in rows if cfg.seeds > 1}
    report = build_report(results, run_dir, extra, extras)
    report.backbones = table
    report.domain_shift = shift
    folder.write_comparison(report.to_dict())
    write_report_safely(run_dir, log)  # plots + report.html; a failure only warns
    return report


def with_backbone(cfg: RunConfig, c: Candidate) -> RunConfig:
    """The settings of one row: the comparison's, with this row's backbone."""
    return cfg if c.backbone == cfg.backbone else replace(cfg, backbone=c.backbone)


def run_candidate(cfg: RunConfig, c: Candidate, splits, run_dir: Path, log=print
                  ) -> StrategyResult:
    """One row, trained in RUN/<row name>/ and named as its row."""
    if c.label is not None:
        log(f"[{c.name}] backbone {c.label} = {c.backbone}, strategy {c.strategy}")
    result = run_strategy(with_backbone(cfg, c), c.strategy, splits, run_dir / c.name, log)
    return replace(result, strategy=c.name)


def candidate_fields(c: Candidate) -> dict:
    """What a multi-backbone row adds: its backbone, label, strategy and the source run."""
    source = source_provenance(c.backbone) if c.label is not None else None
    return {"backbone": c.backbone, "label": c.label, "method": c.strategy,
            **({"source": source} if source is not None else {})}


def backbone_table(rows: list[Candidate], extras: dict[str, dict]) -> list[dict]:
    """config.yaml / comparison.json: each backbone once, with its source run if any."""
    seen: dict[str, dict] = {}
    for c in rows:
        if c.label is not None and c.label not in seen:
            seen[c.label] = {"label": c.label, "backbone": c.backbone,
                             **({"source": extras[c.name]["source"]}
                                if "source" in extras[c.name] else {})}
    return list(seen.values())


def run_extra_seeds(cfg: RunConfig, c: Candidate, splits, folder: Path, log=print
                    ) -> list[StrategyResult]:
    """Seeds seed+1 ... seed+N-1 of one row on the same split, in RUN/<row>/seed-S/
    (the first seed stays in RUN/<row>/, as with one seed)."""
    out = []
    for seed in range(cfg.seed + 1, cfg.seed + cfg.seeds):
        log(f"[{c.name}] training seed {seed} ({seed - cfg.seed + 1} of {cfg.seeds})")
        result = run_strategy(cfg, c.strategy, splits, folder / f"seed-{seed}", log,
                              train_seed=seed)
        out.append(replace(result, strategy=c.name))
    return out


def format_table(report: ComparisonReport) -> str:
    """The strategies with 95% intervals, then the paired tests and the seed summary."""
    regression = any(r.get("accuracy") is None for r in report.rows)
    metric_name = "rmse" if regression else "accuracy"
    width = max([14] + [len(r["strategy"]) + 2 for r in report.rows])
    head = ("strategy", metric_name, "macro-F1", "wall s", "gain vs scratch")
    lines = [f"{head[0]:<{width}}{head[1]:>23}{head[2]:>23}{head[3]:>9}{head[4]:>26}"]
    for r in report.rows:
        ci = r.get("ci95") or {}
        value = r.get("rmse") if regression else r.get("accuracy")
        metric = cell(value, ci.get(metric_name))  # a broken run shows '-', no crash
        f1 = cell(r.get("macro_f1"), ci.get("macro_f1"))
        gain = "baseline" if r["strategy"] == report.baseline else (
            cell(r["transfer_gain"], r.get("gain_ci95"), signed=True))
        lines.append(f"{r['strategy']:<{width}}{metric:>23}{f1:>23}{r['wall_seconds']:>9.1f}"
                     f"{gain:>26}")
    lines += backbone_lines(report)
    if report.pairs:
        lines += ["", "paired on the same test images (gain [95% interval], test):"]
        lines += [f"  {pair_line(p, metric_name)}" for p in report.pairs]
    lines += seed_lines(report, metric_name)
    if report.methods.get("intervals"):
        lines.append(f"intervals: {report.methods['intervals']}")
    return "\n".join(lines)


def backbone_lines(report: ComparisonReport) -> list[str]:
    """compare --backbones: what each label stands for, and where a run-folder one came from."""
    if not report.backbones:
        return []
    lines = ["", "backbones (rows are BACKBONE.STRATEGY; scratch: random init of the first):"]
    for b in report.backbones:
        lines.append(f"  {b['label']} = {b['backbone']}")
        if b.get("source"):
            lines.append(f"    {provenance_line(b['source'])}")
    return lines


def cell(value: float | None, ci: list[float] | None, signed: bool = False) -> str:
    """`0.8543 [0.847, 0.861]`; '-' for a missing value, the bare value without an interval."""
    if value is None:
        return "-"
    text = f"{value:+.4f}" if signed else f"{value:.4f}"
    return text if ci is None else f"{text} {fmt_ci(ci, signed)}"


def seed_lines(report: ComparisonReport, metric: str) -> list[str]:
    """Mean ± sd [t-interval] across training seeds, and each seed's point."""
    rows = [r for r in report.rows if (r.get("seeds") or {}).get(metric)]
    if not rows:
        return []
    n = len(rows[0]["seeds"]["seeds"])
    lines = ["", f"{metric} across {n} training seeds on the same split, mean ± sd [95% "
             "t-interval]", "(the paired tests above use the first seed):"]
    for r in rows:
        s = r["seeds"][metric]
        points = " ".join(f"{v:.4f}" for v in s["values"])
        spread = "" if s["sd"] is None else f" ± {s['sd']:.4f} {fmt_ci(s['ci95'], False)}"
        lines.append(f"  {r['strategy']:<14}{s['mean']:.4f}{spread}   seeds: {points}")
    return lines
