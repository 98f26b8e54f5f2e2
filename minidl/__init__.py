"""minidl: a plugin-based mini deep-learning framework grown from d2l section 3.2.

``import minidl`` gives the interfaces, the Trainer, the registry and the run builder.
Names that need torch are imported on first use, so that listing plugins stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

from minidl.errors import (
    CheckpointError,
    DivergedError,
    MinidlError,
    MinidlWarning,
    OptionError,
    PluginError,
    UnknownComponentError,
)
from minidl.hookspecs import Register, hookimpl
from minidl.interfaces import Dataset, Loss, Metric, Model, Optimizer, SequenceDataset, Stateful, StatefulModel
from minidl.options import AllowNonFinite, Ge, Gt, Le, Lt
from minidl.plugins import Plugins, get_plugins, get_registry, load_plugins
from minidl.registry import Registry

__version__ = "0.1.0"

_LAZY = {
    "Trainer": "minidl.trainer",
    "History": "minidl.trainer",
    "RunConfig": "minidl.config",
    "check_resume_compatible": "minidl.config",
    "load_config": "minidl.config",
    "build": "minidl.run",
    "load_run": "minidl.saved_run",
    "seed_everything": "minidl.run",
    "TensorData": "minidl.adapters",
    "TorchData": "minidl.adapters",
    "as_dataset": "minidl.adapters",
    "ManualOptimizer": "minidl.optim",
    "check_components": "minidl.compat",
    "IncompatibleComponentsError": "minidl.compat",
    "CompatibilityWarning": "minidl.compat",
}

__all__ = [
    "AllowNonFinite",
    "CheckpointError",
    "Dataset",
    "DivergedError",
    "Ge",
    "Gt",
    "Le",
    "Loss",
    "Lt",
    "Metric",
    "MinidlError",
    "MinidlWarning",
    "Model",
    "OptionError",
    "Optimizer",
    "PluginError",
    "Plugins",
    "Register",
    "Registry",
    "SequenceDataset",
    "Stateful",
    "StatefulModel",
    "UnknownComponentError",
    "__version__",
    "get_plugins",
    "get_registry",
    "hookimpl",
    "load_plugins",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'minidl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
