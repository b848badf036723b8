"""What the API returns: a Run (one fitted model), a Comparison, a Ranking.

Each object is a view of a run folder plus what the call measured, so a user in a Python
session gets the same numbers and tables the CLI prints without reading files. The model is
loaded only when asked for (`.model`): a comparison of three strategies should not hold three
networks in memory just to print a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transferlab.api.compare import ComparisonReport
    from transferlab.api.runner import StrategyResult
    from transferlab.model import TransferModel
    from transferlab.selection.ranking import RankingReport


@dataclass
class Run:
    """One trained model: its test metrics, its run folder and (lazily) the model itself."""

    run_dir: Path
    strategy: str
    metrics: dict
    wall_seconds: float = 0.0
    _model: TransferModel | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_result(cls, result: StrategyResult) -> Run:
        return cls(Path(result.run_dir), result.strategy, result.metrics, result.wall_seconds)

    @classmethod
    def load(cls, run_dir: str | Path) -> Run:
        """A finished run folder, e.g. one the CLI wrote (reads RUN/metrics.json)."""
        from transferlab.results.runfolder import RunFolder

        saved = RunFolder(run_dir).read_metrics()  # missing: one line naming the file
        return cls(Path(run_dir), saved.get("strategy", "?"), saved.get("test", {}),
                   float(saved.get("wall_seconds", 0.0)))

    @property
    def model_path(self) -> Path:
        return self.run_dir / "model.safetensors"

    @property
    def model(self) -> TransferModel:
        """The trained TransferModel, loaded from the run folder on first use."""
        if self._model is None:
            from transferlab.model import load_model

            self._model = load_model(self.run_dir)
        return self._model

    def summary(self) -> dict:
        """The one-line JSON `transferlab fit` prints: strategy, rounded test metrics, time."""
        test = {k: round(v, 4) for k, v in self.metrics.items() if isinstance(v, float)}
        out = {"strategy": self.strategy, "test": test,
               "wall_seconds": round(self.wall_seconds, 1)}
        return out | ({"ci95": rounded_intervals(self.metrics["ci95"])}
                      if self.metrics.get("ci95") else {})

    def table(self) -> str:
        """The scalar test metrics, one per line, under the strategy and run folder."""
        lines = [f"{'strategy':<20}{self.strategy}", f"{'run folder':<20}{self.run_dir}"]
        ci = self.metrics.get("ci95") or {}
        lines += [f"{k:<20}{v:.4f}" + (f" [{ci[k][0]:.3f}, {ci[k][1]:.3f}]" if ci.get(k) else "")
                  for k, v in self.metrics.items() if isinstance(v, float)]
        lines.append(f"{'wall seconds':<20}{self.wall_seconds:.1f}")
        if ci.get("method"):
            lines.append(f"{'95% intervals':<20}{ci['method']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def rounded_intervals(ci: dict) -> dict:
    """metrics["ci95"] for a one-line JSON: bounds to 4 decimals, the method in words."""
    return {k: [round(b, 4) for b in v] if isinstance(v, list) else v for k, v in ci.items()
            if k != "level"}


@dataclass
class Comparison:
    """Strategies side by side: `.rows` and `.table()` are what `transferlab compare` prints."""

    report: ComparisonReport
    runs: dict[str, Run]

    @property
    def run_dir(self) -> Path:
        return self.report.run_dir

    @property
    def rows(self) -> list[dict]:
        return self.report.rows

    @property
    def warnings(self) -> list[str]:
        return self.report.warnings

    @property
    def baseline(self) -> str | None:
        return self.report.baseline

    @property
    def recommendation(self) -> str | None:
        """One sentence: which strategy to use, weighing gain, its interval and wall time."""
        return self.report.recommendation

    @property
    def metrics(self) -> dict[str, dict]:
        """Test metrics per strategy."""
        return {name: run.metrics for name, run in self.runs.items()}

    @property
    def best(self) -> Run:
        """The run with the best primary test metric (accuracy, or lowest RMSE)."""
        from transferlab.results.metrics import rank_score

        row = max(self.rows, key=rank_score)  # a missing metric ranks last
        return self.runs[row["strategy"]]

    @property
    def model(self) -> TransferModel:
        """The model of the best strategy (`.runs[name].model` for another one)."""
        return self.best.model

    def table(self) -> str:
        from transferlab.api.compare import format_table

        return format_table(self.report)

    def __str__(self) -> str:
        notes = [f"note: {n}" for n in self.report.notes]
        advice = [f"recommendation: {self.recommendation}"] if self.recommendation else []
        return "\n".join([self.table(), *(f"WARNING: {w}" for w in self.warnings), *notes,
                          *advice])


@dataclass
class Ranking:
    """Candidate backbones scored on the training data (`transferlab rank`)."""

    report: RankingReport
    run_dir: Path
    path: Path  # RUN/ranking.json

    @property
    def rows(self) -> list[Any]:
        return self.report.rows

    @property
    def winner(self) -> str:
        return self.report.winner()

    def table(self) -> str:
        return self.report.table()

    def __str__(self) -> str:
        return self.table()
