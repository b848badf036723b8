"""Review findings on the config / API side (issues 15, 16): each bad input is refused in one
line before anything is decoded or written, and the Python API and the CLI share one rule."""

from __future__ import annotations

from transferlab import config

# -- 5: dead code is gone --------------------------------------------------------------------


def test_dead_code_removed():
    import inspect

    from transferlab.deploy import predict

    assert not hasattr(config, "write_yaml")
    assert "UnidentifiedImageError" not in inspect.getsource(predict)

