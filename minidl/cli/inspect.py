"""``minidl list``, ``minidl show`` and ``minidl plugins``: inspection without torch."""

from __future__ import annotations

import json
from typing import Any

import click

from minidl.options import Option
from minidl.plugins import Plugins
from minidl.registry import KINDS, REGISTER_HOOKS

_NO_DEFAULT = "(required)"


@click.command("list")
@click.argument("kind", required=False, type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(plugins: Plugins, kind: str | None, as_json: bool) -> None:
    """List components, by kind, with a one-line description."""
    kinds = [kind] if kind else list(KINDS)
    components = [c for c in plugins.registry if c.kind in kinds]
    if as_json:
        click.echo(json.dumps([{"kind": c.kind, "name": c.name, "plugin": c.plugin,
                                "summary": c.summary} for c in components], indent=2))
        return
    width = max((len(c.name) for c in components), default=0)
    for k in kinds:
        click.echo(f"{k}:")
        for c in (c for c in components if c.kind == k):
            click.echo(f"  {c.name:<{width}}  {c.summary}")


@click.command("show")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show_command(plugins: Plugins, kind: str, name: str, as_json: bool) -> None:
    """Show a component's options with their types, defaults and help."""
    component = plugins.registry.get(kind, name)
    if as_json:
        click.echo(json.dumps({"kind": kind, "name": name, "plugin": component.plugin,
                               "summary": component.summary,
                               "options": [_option_json(o) for o in component.options]}, indent=2))
        return
    click.echo(f"{kind} {name} (from {component.plugin})")
    click.echo(f"  {component.summary}")
    if not component.options:
        click.echo("  no options")
        return
    prefix = f"callback.{name}" if kind == "callback" else kind  # what --set accepts
    click.echo(f"options (set with --set {prefix}.OPTION=VALUE):")
    for option in component.options:
        default = _NO_DEFAULT if option.required else f"default {_show(option.default)}"
        bounds = f", {option.range_text}" if option.range_text else ""
        click.echo(f"  {option.name} ({option.type_name}, {default}{bounds})  {option.help}".rstrip())


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def plugins_command(plugins: Plugins, as_json: bool) -> None:
    """List loaded plugins, their versions and what each provides."""
    provided: dict[str, list[str]] = {}
    for component in plugins.registry:
        provided.setdefault(component.plugin, []).append(f"{component.kind} {component.name}")
    rows: list[dict[str, Any]] = [{"name": info.name, "distribution": info.distribution, "version": info.version,
             "hooks": list(info.hooks), "components": provided.get(info.name, []),
             "registers_nothing": not provided.get(info.name) and set(info.hooks) <= set(REGISTER_HOOKS.values()),
             "problems": list(info.problems)}
            for info in plugins.info()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        source = f" ({row['distribution']} {row['version']})" if row["distribution"] else ""
        click.echo(f"{row['name']}{source}")
        if row["components"]:
            click.echo(f"  components: {', '.join(row['components'])}")
        click.echo(f"  hooks: {', '.join(row['hooks'])}")
        if row["registers_nothing"]:  # e.g. its hook functions lack @hookimpl
            click.echo("  registers nothing: " + ("; ".join(row["problems"]) or "no component, command or hook"))
        elif row["problems"]:
            click.echo(f"  warning: {'; '.join(row['problems'])}")


def _option_json(option: Option) -> dict[str, Any]:
    return {"name": option.name, "type": option.type_name, "required": option.required,
            "default": None if option.required else option.default, "help": option.help,
            "range": option.range_text}


def _show(value: Any) -> str:
    return "none" if value is None else json.dumps(value) if isinstance(value, (list, str)) else str(value)
