"""First-party plugins the book layer builds on, imported when first needed.

``import minidl.d2l`` must work without them (PLAN.md's layers), so a helper that needs
one calls :func:`first_party` inside the function; a missing plugin is an ImportError
naming the distribution and how to install it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["first_party"]


def first_party(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` (``minidl_<name>.<sub>``) of the first-party plugin ``plugins/<name>``.

    Raises an ImportError naming the distribution (``minidl-<name>``) and the install
    command when the plugin is not installed; ``needed_for`` says what needs it.
    """
    package = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
            raise  # the plugin is there but something it imports is missing: say that
        name = package.removeprefix("minidl_")
        raise ImportError(f"{needed_for} come from the minidl-{name} plugin, which is not installed: "
                          f"pip install ./plugins/{name}") from None
