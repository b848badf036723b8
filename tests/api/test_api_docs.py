"""docs/API.md is a REPL session: its ```python blocks run, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def code_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


def test_the_doc_has_the_session_it_promises():
    blocks = code_blocks(DOC.read_text())
    joined = "\n".join(blocks)
    assert len(blocks) >= 8
    for call in ("fit(", "compare(", "predict(", "export(", "evaluate(", "report(", "rank("):
        assert call in joined, call


def test_block_extraction_keeps_order_and_skips_other_fences():
    text = "a\n```python\nx = 1\n```\n```text\nno\n```\n```python\ny = x\n```\n"
    assert code_blocks(text) == ["x = 1\n", "y = x\n"]


@pytest.mark.slow
def test_every_python_block_runs_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the session's relative paths (shapes/, runs/) land here
    namespace: dict = {"__name__": "__api_doc__"}
    for i, block in enumerate(code_blocks(DOC.read_text()), 1):
        try:
            exec(compile(block, f"{DOC.name} block {i}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{DOC.name} block {i} failed: {exc!r}\n{block}") from exc
    out = capsys.readouterr()
    assert "runs/first" in out.out and "baseline" in out.out
    assert "epochs=0" in out.out  # the ConfigError block printed the one-line message
    assert (tmp_path / "runs" / "first" / "export" / "model.onnx").is_file()
