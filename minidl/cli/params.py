"""Click parameter types that know the plugin registry."""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem

from minidl.errors import UnknownComponentError
from minidl.plugins import Plugins, load_plugins


def _plugins(ctx: click.Context | None) -> Plugins:
    plugins = ctx.find_object(Plugins) if ctx is not None else None
    return plugins if plugins is not None else load_plugins()


class ComponentName(click.ParamType):
    """A component name of one kind: checked against the registry, completed in the shell."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"{kind} name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Return the name if a plugin registered it; fail listing the available names."""
        try:
            _plugins(ctx).registry.get(self.kind, value)
        except UnknownComponentError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        """Complete with registered names."""
        registry = _plugins(ctx).registry
        return [CompletionItem(name, help=registry.get(self.kind, name).summary)
                for name in registry.names(self.kind) if name.startswith(incomplete)]
