"""What a run depends on, recorded in its ``versions.json``: Python, the packages, the plugins."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minidl.plugins import Plugins

OPTIONAL_PACKAGES = ("matplotlib", "tensorboard")  # recorded when installed
REQUIRED_PACKAGES = ("numpy", "pluggy", "click")


def collect_versions(plugins: Plugins) -> dict[str, Any]:
    """Python, the packages a run depends on, and every loaded plugin with its version."""
    import torch

    from minidl import __version__

    packages = {"minidl": __version__, "torch": torch.__version__}
    for name in (*REQUIRED_PACKAGES, *OPTIONAL_PACKAGES):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "plugins": [{"name": info.name, "distribution": info.distribution, "version": info.version,
                     **_file_of(info.name, info.distribution)} for info in plugins.info()],
    }


def _file_of(name: str, distribution: str | None) -> dict[str, str]:
    """``{"file": ABSOLUTE PATH}`` for a plugin named by a ``.py`` path (``-p ./mine.py``): the name
    is as typed, relative to where the run was started."""
    if distribution is None and name.endswith(".py"):
        return {"file": os.path.abspath(name)}
    return {}
