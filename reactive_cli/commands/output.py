"""Where commands print, on a terminal or not (a pipe, a file, a CI log).

On a terminal rich fits tables to its width and shows a spinner while a step runs. Anywhere
else a table cut to 80 columns ("RUNNI…") and a spinner that is never drawn tell nothing:
tables are printed with every column whole, and each step is one plain line on stderr.
``--json`` output does not come through here: it is the format for scripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.status import Status
from rich.text import Text

#: The width tables are laid out in without a terminal: wide enough that no cell is cut.
UNCUT_WIDTH = 10_000


def console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A console for a command's output: a terminal's width, else wide enough for every
    column whole (rich would cut at $COLUMNS or 80)."""
    found = Console(stderr=stderr, quiet=quiet)
    if found.is_terminal:
        return found
    return Console(stderr=stderr, quiet=quiet, width=UNCUT_WIDTH)


class Progress:
    """Says on stderr what a long-running command is doing now ("waiting for shop web on
    :8001"): the spinner's text on a terminal, else one plain line per step."""

    def __init__(self, err: Console, spinner: Status | None) -> None:
        self._err = err
        self._spinner = spinner

    def __call__(self, step: str) -> None:
        if self._spinner is not None:
            self._spinner.update(f"{step}...")
        else:
            self._err.print(f"{step}...", highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """A line to keep (a warning), above the spinner on a terminal."""
        self._err.print(Text(text, style="yellow"), soft_wrap=True)


@contextmanager
def progress(title: str, *, quiet: bool = False) -> Iterator[Progress]:
    """Show each step of a long operation on stderr: a spinner on a terminal (``title``
    until the first step), else one plain line per step, so a pipe or a log sees them."""
    err = Console(stderr=True, quiet=quiet)
    if err.is_terminal:
        with err.status(title) as spinner:
            yield Progress(err, spinner)
        return
    yield Progress(err, None)
