"""transferlab: transfer learning you can measure.

The public API, imported lazily so that `import transferlab` stays cheap (the ONNX serving path
must not pull in torch training code):

    from transferlab import RunConfig, compare, fit, load_dataset, build_model, load_model
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "RunConfig": "transferlab.config",
    "load_config": "transferlab.config",
    "compare": "transferlab.api.compare",
    "run_strategy": "transferlab.api.runner",
    "prepare_data": "transferlab.api.runner",
    "load_dataset": "transferlab.data",
    "make_splits": "transferlab.data",
    "create_backbone": "transferlab.backbones",
    "build_model": "transferlab.model",
    "load_model": "transferlab.model",
    "evaluate": "transferlab.engine.loop",
    "export_model": "transferlab.deploy.export",
    "rank_backbones": "transferlab.rank",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'transferlab' has no attribute {name!r}")
