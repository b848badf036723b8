"""RankingReport: order, winner choice and JSON form, on hand-made rows (no models)."""

from __future__ import annotations

import json

import pytest

from transferlab.errors import ConfigError
from transferlab.selection.ranking import RankingReport, RankRow, parse_candidate


def row(name: str, logme: float | None, leep: float | None = None) -> RankRow:
    return RankRow(name, "efficientnet_lite0", not name.endswith("@random"), 1280, 64,
                   {"logme": logme, "leep": leep}, {"features": 1.0, "logme": 0.1, "leep": 0.0})


def report(rows: list[RankRow]) -> RankingReport:
    return RankingReport(rows, "logme", ["logme", "leep"], {"images": 10}, "cpu", 1.0)


def test_parse_candidate():
    assert parse_candidate("efficientnet_lite0@random") == ("efficientnet_lite0", False)
    assert parse_candidate("runs/fit-1") == ("runs/fit-1", True)


def test_winner_can_skip_random_references():
    rep = report([row("b@random", 0.5), row("a", 0.2, -1.0)])
    assert rep.winner() == "b@random"
    assert rep.winner(pretrained_only=True) == "a"
    with pytest.raises(ConfigError, match="no pretrained candidate"):
        report([row("b@random", 0.5)]).winner(pretrained_only=True)


def test_json_and_table():
    rep = report([row("a", 0.2, -1.0), row("b@random", 0.1)])
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["winner"] == "a" and data["rows"][1]["scores"]["leep"] is None
    lines = rep.table().splitlines()
    assert lines[0].startswith("rank") and "logme *" in lines[0]
    assert lines[1].split()[:2] == ["1", "a"] and "n/a" in lines[2]
    assert "close scores" in lines[-1]  # the caveat travels with every printed ranking
