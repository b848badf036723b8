"""transferlab: transfer learning you can measure.

The public API, imported lazily so that `import transferlab` stays cheap (the ONNX serving path
must not pull in torch training code). A session (docs/API.md):

    from transferlab import fit, compare, evaluate, predict, export
    run = fit("photos/", strategy="finetune", epochs=3)    # -> Run: .metrics, .model, .run_dir
    print(run)                                             # the test metrics table
    rows = predict(run, ["new.jpg"])                       # top-k classes per image
    print(compare("photos/", strategies="linear-probe,finetune,scratch"))

Settings are RunConfig fields; a bad one is a ConfigError naming it. The building blocks
(RunConfig, load_dataset, build_model, load_model, export_model, rank_backbones) are here too.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "fit": "transferlab.api.workflows",
    "compare": "transferlab.api.workflows",
    "rank": "transferlab.api.workflows",
    "check": "transferlab.api.check",
    "evaluate": "transferlab.api.saved",
    "predict": "transferlab.api.saved",
    "export": "transferlab.api.saved",
    "report": "transferlab.api.saved",
    "Run": "transferlab.api.objects",
    "Comparison": "transferlab.api.objects",
    "Ranking": "transferlab.api.objects",
    "RunConfig": "transferlab.config",
    "load_config": "transferlab.config",
    "ConfigError": "transferlab.errors",
    "TransferlabError": "transferlab.errors",
    "run_strategy": "transferlab.api.runner",
    "prepare_data": "transferlab.api.runner",
    "load_dataset": "transferlab.data",
    "make_splits": "transferlab.data",
    "create_backbone": "transferlab.backbones",
    "register_source": "transferlab.backbones",
    "build_model": "transferlab.model",
    "load_model": "transferlab.model",
    "export_model": "transferlab.deploy.export",
    "rank_backbones": "transferlab.selection",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'transferlab' has no attribute {name!r}")
