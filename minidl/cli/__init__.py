"""The ``minidl`` command line: a thin layer over the library.

Built by :func:`create_cli` (no plugin is loaded at import time). Plugins named with
``-p`` are loaded before the command runs, so their components and subcommands are
there; installed plugins that fail are named in one warning line each. Errors in what
the user typed end with one ``Error:`` line on stderr and exit code 2; a file that cannot
be written (:class:`minidl.checkpoint.WriteError`: a full disk, a read-only folder), exit code 1.
"""

from __future__ import annotations

import errno
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import click

from minidl import __version__
from minidl.checkpoint import WriteError
from minidl.cli.evaluate import evaluate_command
from minidl.cli.inspect import list_command, plugins_command, show_command
from minidl.cli.plot import plot_command
from minidl.cli.runs import runs_command
from minidl.cli.sweep import sweep_command
from minidl.cli.train import train_command
from minidl.errors import ComponentFailedError, DivergedError, MinidlError, MinidlWarning, shown
from minidl.plugins import PluginFailure, Plugins, load_plugins
from minidl.settings import debug_flag_given, env_switch


class MinidlGroup(click.Group):
    """A group that loads plugins first and reports every error in one line."""

    def __init__(self, *args: Any, plugins: Plugins | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugins = plugins
        self._base_commands: dict[str, click.Command] = {}  # set by create_cli, before plugins add theirs
        self.prepared, self.debug = False, False  # set again by each main()

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """Load plugins, then run; errors become one line on stderr with an exit code."""
        args = list(sys.argv[1:] if args is None else args)
        self.invoked_args = args  # what `train --nproc` relaunches in each process
        self.prepared = False  # plugins load when click reads -p (or lists commands without it)
        self.debug, complaint = env_switch("MINIDL_DEBUG")  # or `minidl --debug`
        if complaint:
            click.echo(f"Warning: {complaint}", err=True)
        try:
            with warnings.catch_warnings():  # minidl's own warnings: one `Warning: ...` line each
                warnings.showwarning = _one_line_warnings(warnings.showwarning)
                result = super().main(args, prog_name or "minidl", complete_var,
                                      standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            result = exc.exit_code
        except click.exceptions.NoArgsIsHelpError as exc:  # `minidl`, `minidl optim`: help, not an error
            click.echo(exc.ctx.get_help())
            result = 0
        except click.UsageError as exc:
            _fail(exc.format_message(), 2)
        except WriteError as exc:  # a full disk, a read-only folder: not a usage error
            _fail(str(exc), 1)
        except MinidlError as exc:
            if self.debug:  # what lies under it (raised `from` it): a plugin's ImportError two modules deep
                _traceback(exc.__cause__)
            _fail(str(exc), 2)
        except DivergedError as exc:
            _fail(str(exc), 1)
        except ComponentFailedError as exc:
            if self.debug:
                _traceback(exc.__cause__)
            _fail(str(exc), 1)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except OSError as exc:  # a path the system refuses, met where no reader named it: one line
            if self.debug:
                _traceback(exc)
            _fail(_os_error(exc), 2 if exc.errno in _BAD_PATH else 1)
        except click.Abort:
            _fail("aborted", 1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def prepare(self, named: Sequence[str] = ()) -> Plugins:
        """Load the plugins (once per invocation) and add their commands; return them."""
        if not self.prepared:
            self._prepare(list(named))
            self.prepared = True
        assert self.plugins is not None
        return self.plugins

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands, plugins' ones too (``minidl --help`` loads the plugins before -p is read)."""
        self.prepare()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A command by name, plugins' ones too."""
        self.prepare()
        return super().get_command(ctx, cmd_name)

    def _prepare(self, named: list[str]) -> None:
        if self.plugins is None or named:
            self.plugins = load_plugins(named, on_failure=self._warn)
        else:
            for failure in self.plugins.failures:
                self._warn(failure)
        self.plugins.on_failure = self._warn  # failures found later (registering components) too
        self.commands = dict(self._base_commands)
        self.plugins.add_commands(self)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        """Give every command the loaded plugins as ``ctx.obj``."""
        extra.setdefault("obj", self.plugins)
        return super().make_context(info_name, args, parent, **extra)

    def _warn(self, failure: PluginFailure) -> None:
        """One warning line for an installed plugin that failed; its traceback first with ``--debug``."""
        if self.debug:
            _traceback(failure.error)
        click.echo(f"Warning: {failure}", err=True)


def _traceback(error: BaseException | None) -> None:
    """Print ``error``'s traceback on stderr (``--debug``), if there is one."""
    if error is not None and error.__traceback__ is not None:
        click.echo("".join(traceback.format_exception(error)).rstrip(), err=True)


def _one_line_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` that prints a :class:`MinidlWarning` as one line; others as ``show`` does."""

    def showwarning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, MinidlWarning):
            click.echo(f"Warning: {message}", err=True)
        else:
            show(message, category, *args, **kwargs)

    return showwarning


#: What the system says of a path that cannot name a file: the user's input, exit code 2.
_BAD_PATH = (errno.ENAMETOOLONG, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.EINVAL)


def _os_error(exc: OSError) -> str:
    """``File name too long: '/tmp/xxx...' (5005 characters)``: the system's words and the path, cut."""
    if exc.filename is None:
        return f"{type(exc).__name__}: {exc}"
    return f"{exc.strerror or type(exc).__name__}: {shown(str(exc.filename))}"


def _fail(message: str, code: int) -> None:
    one_line = re.sub(r"\s*\n\s*", " ", message.strip())  # e.g. click's "Choose from:" lists
    click.echo(f"Error: {one_line}", err=True)
    sys.exit(code)


def _load_plugins(ctx: click.Context, param: click.Parameter, specs: tuple[str, ...] | None) -> tuple[str, ...]:
    """``-p`` is eager: the plugins it names load as click reads it, before the subcommand is looked up."""
    group = ctx.command
    if isinstance(group, MinidlGroup):
        # `-p X --debug`: click reads --debug after -p has loaded (and maybe failed)
        group.debug = group.debug or debug_flag_given(getattr(group, "invoked_args", ()))
        ctx.obj = group.prepare(specs or ())
    return specs or ()


def _set_debug(ctx: click.Context, param: click.Parameter, debug: bool) -> bool:
    if debug and isinstance(ctx.command, MinidlGroup):
        ctx.command.debug = True
    return debug


def create_cli(plugins: Plugins | None = None) -> click.Group:
    """Build the ``minidl`` command; ``plugins`` defaults to loading them on first run."""

    @click.group("minidl", cls=MinidlGroup, plugins=plugins, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="minidl")
    @click.option("-p", "--plugin", "plugin_specs", multiple=True, metavar="MODULE_OR_FILE", is_eager=True,
                  callback=_load_plugins, expose_value=False,
                  help="Load a plugin for this run: a module name or a .py file (repeatable).")
    @click.option("--debug", is_flag=True, callback=_set_debug, expose_value=False,
                  help="Show the full traceback when a component or plugin fails (also MINIDL_DEBUG=1).")
    def cli() -> None:
        """minidl: train the d2l notebook's linear regression, and swap any part by name.

        \b
        Start with `minidl train`; `minidl list` shows what you can swap in,
        `minidl show KIND NAME` a component's options.
        """

    cli.add_command(train_command)
    cli.add_command(list_command)
    cli.add_command(show_command)
    cli.add_command(plugins_command)
    cli.add_command(plot_command)
    cli.add_command(evaluate_command)
    cli.add_command(runs_command)
    cli.add_command(sweep_command)
    cli._base_commands = dict(cli.commands)  # type: ignore[attr-defined]
    return cli


def main() -> None:
    """The console script ``minidl``."""
    create_cli().main()
