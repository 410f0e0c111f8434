"""The ``reactive`` command: builds the app and adds one module per command."""

from __future__ import annotations

from collections.abc import Sequence

import click
import typer
from rich.console import Console
from rich.text import Text

from reactive_cli.commands import (
    backfill,
    diff,
    dlq,
    emit,
    flags,
    listen,
    listeners,
    logs,
    manage,
    provision,
    republish,
    stack,
    status,
    teardown,
)
from reactive_users.core import exitcodes
from reactive_users.core.errors import (
    ReactiveError,
)

app = typer.Typer(
    name="reactive",
    help="Operate reactive-users: user changes from the master to every client, live.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow; blank lines separate them
    cls=flags.Group,
)
app.command("provision", cls=flags.Command)(provision.provision)
app.command("teardown", cls=flags.Command)(teardown.teardown)
app.command("listen", cls=flags.Command)(listen.listen)
app.command("emit-test", cls=flags.Command)(emit.emit_test)
app.command("up", cls=flags.Command)(stack.up)
app.command("down", cls=flags.Command)(stack.down)
app.command("listeners", cls=flags.Command)(listeners.listeners)
app.command("logs", cls=flags.Command)(logs.logs)
app.command("status", cls=flags.Command)(status.status)
app.command("manage", cls=flags.Command)(manage.manage)
app.command("backfill", cls=flags.Command)(backfill.backfill)
app.command("diff", cls=flags.Command)(diff.diff)
app.command("republish", cls=flags.Command)(republish.republish)
app.add_typer(dlq.app, name="dlq")

_err = Console(stderr=True)

#: Typer 0.29 and later bundle their own copy of click: catch both families.
ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort)
USAGE_ERRORS: tuple[type[BaseException], ...] = (click.ClickException, typer.TyperException)


#: Exit code by error class, most specific first; anything else is STACK.
def main(args: Sequence[str] | None = None) -> int:
    """Run ``reactive ARGS``; our errors become one red line; returns the exit code."""
    try:
        result = app(args=list(args) if args is not None else None, standalone_mode=False)
    except ReactiveError as e:
        _err.print(Text(f"{type(e).__name__}: {e}", style="red"), soft_wrap=True)
        return exitcodes.exit_code(e)
    except ABORTS:  # Ctrl-C, or "no" to a confirmation
        return exitcodes.FAILED
    except USAGE_ERRORS as e:  # unknown option, bad value: typer's "Error: ..." line
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            _err.print(Text(f"Error: {e}", style="red"), soft_wrap=True)
        return exitcodes.USAGE
    return result if isinstance(result, int) else exitcodes.OK


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
