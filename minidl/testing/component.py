"""Checking one component: the checks of each kind, run in order, the first failure raised."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import torch

from minidl.plugins import Plugins, load_plugins
from minidl.testing.callbacks import CALLBACK_CHECKS
from minidl.testing.common import COMMON_CHECKS, check_builds, check_partners
from minidl.testing.context import ConformanceError, Context, PartnerSpec
from minidl.testing.datasets import DATASET_CHECKS
from minidl.testing.losses import LOSS_CHECKS
from minidl.testing.metrics import METRIC_CHECKS
from minidl.testing.models import MODEL_CHECKS
from minidl.testing.optimizers import OPTIMIZER_CHECKS

#: What a factory's ``check_with`` may name: the partners :func:`check_component` takes.
PARTNER_KEYS = ("data", "model", "loss")

#: The checks of each kind, in the order they run (after :data:`COMMON_CHECKS`).
CHECKS: dict[str, tuple[Callable[[Context], None], ...]] = {
    "dataset": (check_builds, *DATASET_CHECKS),
    "model": (check_partners, check_builds, *MODEL_CHECKS),
    "loss": (check_builds, check_partners, *LOSS_CHECKS),
    "optimizer": (check_builds, *OPTIMIZER_CHECKS),
    "metric": (check_builds, check_partners, *METRIC_CHECKS),
    "callback": (check_builds, check_partners, *CALLBACK_CHECKS),
}


def check_name(check: Callable[..., object]) -> str:
    """The name a check goes by in messages: ``check_model_output`` -> ``output``."""
    name = check.__name__.removeprefix("check_")
    for kind in CHECKS:
        name = name.removeprefix(f"{kind}_")
    return name


@contextlib.contextmanager
def _preserved_rng() -> Iterator[None]:
    """Checks seed the global generators; the caller's states come back afterwards."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def registered_name(plugins: Plugins, plugin: object) -> str | None:
    """The name under which ``plugin`` (a name, module, module name or path) is registered."""
    from pathlib import Path

    names = dict(plugins.manager.list_name_plugin())
    if isinstance(plugin, str) and plugin in names:
        return plugin
    for name, obj in names.items():
        if obj is plugin:
            return name
        if isinstance(plugin, str) and getattr(obj, "__name__", None) == plugin:
            return name
        file = getattr(obj, "__file__", None)
        if isinstance(plugin, str) and file and plugin.endswith(".py") \
                and Path(file).resolve() == Path(plugin).resolve():
            return name
    return None


def as_plugins(plugins: Plugins | Sequence[str | ModuleType] | None) -> Plugins:
    """``plugins`` as loaded plugins: specs already loaded (an installed entry point's name,
    its module) are taken as they are, the others loaded (module names, ``.py`` paths) or
    registered (modules, under their ``__name__``)."""
    if isinstance(plugins, Plugins):
        return plugins
    loaded = load_plugins()
    missing = [spec for spec in plugins or () if registered_name(loaded, spec) is None]
    loaded.load_named([spec for spec in missing if isinstance(spec, str)])
    for module in missing:
        if isinstance(module, ModuleType):
            loaded.register(module, name=module.__name__)
    return loaded


def check_component(kind: str, name: str, plugins: Plugins | Sequence[str] | None = None,
                    options: Mapping[str, Any] | None = None, *, data: PartnerSpec = None,
                    model: PartnerSpec = None, loss: PartnerSpec = None) -> list[str]:
    """Run every check that applies to component ``kind``/``name``; return their names.

    ``plugins``: loaded plugins, or plugin specs to load on top of the installed ones:
    an installed plugin's entry-point name (what :func:`check_plugin` accepts), a module
    name or a ``.py`` path. ``options``: the options to build it with (default: its
    defaults). ``data``, ``model``, ``loss``: partners to check it with (a name, a
    ``(name, options)`` pair or a built object); left out, those the factory declares in
    its ``check_with`` attribute (``{"data": ("shapes", {}), "loss": "cross-entropy"}``),
    else the first that run. Raises :class:`ConformanceError` at the first failed check.
    """
    loaded = as_plugins(plugins)
    component = loaded.registry.get(kind, name)
    declared = _declared_partners(component.factory, component.label)
    given = {"dataset": data, "model": model, "loss": loss}
    given = {key: declared.get("data" if key == "dataset" else key) if spec is None else spec
             for key, spec in given.items()}
    ctx = Context(component, loaded, dict(options or {}), given)
    passed = []
    with _preserved_rng():
        for check in (*COMMON_CHECKS, *CHECKS[kind]):
            _run_check(ctx, check)
            passed.append(check_name(check))
    return passed


def _declared_partners(factory: object, label: str) -> Mapping[str, PartnerSpec]:
    """The partners a factory asks to be checked with (its ``check_with`` mapping), if any."""
    declared = getattr(factory, "check_with", None) or {}
    unknown = set(declared) - set(PARTNER_KEYS) if isinstance(declared, Mapping) else {"?"}
    if unknown:
        raise ConformanceError(label, "check_with", f"check_with is {declared!r}; it maps some of "
                                                    f"{', '.join(PARTNER_KEYS)} to a name or (name, options)")
    return declared


def _run_check(ctx: Context, check: Callable[[Context], None]) -> None:
    try:
        check(ctx)
    except ConformanceError:
        raise
    except AssertionError as exc:
        raise ConformanceError(ctx.component.label, check_name(check), str(exc)) from exc
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConformanceError(ctx.component.label, check_name(check), f"raised {error}") from exc
