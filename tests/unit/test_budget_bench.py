"""bench/budget_bench.py's variant syntax: what a `NAME=STRATEGY:KEY=VALUE;...` entry trains."""

from __future__ import annotations

import pytest

from tests.conftest import BENCH, load_script


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCH / "budget_bench.py")


def test_variant_settings_become_typed_recipe_overrides(bench) -> None:
    assert bench.parse_variant("p3-10=partial:freeze_stages=3;epochs=10;lr=0.002;bn=train") == (
        "p3-10", "partial", {"freeze_stages": 3, "epochs": 10, "lr": 0.002, "bn": "train"})
    assert bench.parse_variant("ft=finetune") == ("ft", "finetune", {})


def test_variants_split_on_commas_but_settings_on_semicolons(bench) -> None:
    given = "ft=finetune,p3-10=partial:freeze_stages=3;epochs=10"
    assert [bench.parse_variant(v)[0] for v in bench.split_variants(given)] == ["ft", "p3-10"]


def test_an_entry_without_a_strategy_is_refused_by_name(bench) -> None:
    with pytest.raises(SystemExit, match="'finetune'"):
        bench.parse_variant("finetune")
