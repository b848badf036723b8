"""bench/text_bench.py's fortune loader and split, on tiny fake fortune files (no package)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import BENCH, load_script

bench = load_script(BENCH / "text_bench.py")


def write_fortunes(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "food").write_bytes(
        b"Eat your greens.\n%\nA multi-line\n\tquotation about  bread.\n\t\t-- A. Baker\n%\n"
        b"%\nShared text.\n%\nEat your greens.\n%\nLast one, no trailing percent")
    (folder / "love").write_bytes(b"Shared text.\n%\nIt's *___\x08\x08\x08all* you need.\n%\n"
                                  b"Caf\xc3\xa9 au lait, je t'aime.\n%\nbad \xff byte\n%\n")
    return folder


def test_read_fortunes_splits_on_percent_lines(tmp_path):
    entries = bench.read_fortunes(write_fortunes(tmp_path) / "food")
    assert entries == ["Eat your greens.", "A multi-line quotation about bread. -- A. Baker",
                       "Shared text.", "Eat your greens.", "Last one, no trailing percent"]


def test_overstrike_and_bad_bytes_are_cleaned(tmp_path):
    entries = bench.read_fortunes(write_fortunes(tmp_path) / "love")
    assert entries[1] == "It's *all* you need."
    assert entries[2] == "Café au lait, je t'aime." and entries[3] == "bad \ufffd byte"


def test_categories_drop_duplicates_and_texts_in_two_classes(tmp_path):
    texts = bench.load_categories(write_fortunes(tmp_path), ("food", "love"))
    assert texts["food"] == ["Eat your greens.", "A multi-line quotation about bread. -- A. Baker",
                             "Last one, no trailing percent"]
    assert "Shared text." not in texts["love"] and len(texts["love"]) == 3


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_split_is_seeded_and_disjoint(tmp_path):
    texts = {"a": [f"a{i}" for i in range(10)], "b": [f"b{i}" for i in range(8)]}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    train, test, pool = bench.write_split(texts, 3, 0, tmp_path / "one")
    again = bench.write_split(texts, 3, 0, tmp_path / "two")
    assert pool == {"a": 7, "b": 5}
    assert read_rows(test) == read_rows(again[1]) and read_rows(train) == read_rows(again[0])
    assert {r["label"] for r in read_rows(test)} == {"a", "b"} and len(read_rows(test)) == 6
    assert not {r["text"] for r in read_rows(test)} & {r["text"] for r in read_rows(train)}
    with pytest.raises(SystemExit, match="needs more than"):
        bench.write_split(texts, 8, 0, tmp_path / "one")


def test_lora_joins_the_default_strategies_only_when_present(monkeypatch):
    import transferlab.engine.strategies as strategies

    monkeypatch.setattr(strategies, "STRATEGIES", ("head", "finetune"))
    assert "lora" not in bench.default_strategies()
    monkeypatch.setattr(strategies, "STRATEGIES", ("head", "lora"))
    assert bench.default_strategies()[-1] == "lora"


def test_recipe_settings_read_values_as_yaml_and_refuse_a_pair_without_value():
    assert bench.recipe_settings(["group_by_length=false", "lr=1e-3", "epochs=3"]) == {
        "group_by_length": False, "lr": 1e-3, "epochs": 3}
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        bench.recipe_settings(["group_by_length"])


def test_cells_list_every_seed_then_the_mean_wall():
    assert bench.cell([0.5, 0.7], [10.0, 30.0]) == "0.600 ± 0.141 (0.500, 0.700; 20 s)"
