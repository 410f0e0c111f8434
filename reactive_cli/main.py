"""The ``reactive`` command: builds the app and adds one module per command."""

from __future__ import annotations

import typer
from rich.console import Console

from reactive_cli import exitcodes
from reactive_cli.commands import stack
from reactive_cli.errors import AwsError, ConfigError, ReactiveError

app = typer.Typer(
    name="reactive",
    help="Operate reactive-users: user changes from the master to every client, live.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.command("up")(stack.up)
app.command("down")(stack.down)

_err = Console(stderr=True)


def _exit_code(error: ReactiveError) -> int:
    if isinstance(error, ConfigError):
        return exitcodes.USAGE
    if isinstance(error, AwsError):
        return exitcodes.AWS
    return exitcodes.STACK


def run() -> None:
    """Entry point: our errors become one red line and a meaningful exit code."""
    try:
        app(standalone_mode=False)
    except ReactiveError as e:
        _err.print(f"[red]{type(e).__name__}: {e}[/red]", highlight=False, soft_wrap=True)
        raise SystemExit(_exit_code(e)) from None
    except typer.Abort:
        raise SystemExit(exitcodes.FAILED) from None
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except Exception as e:
        import click

        if isinstance(e, click.ClickException):
            e.show()
            raise SystemExit(exitcodes.USAGE) from None
        raise
