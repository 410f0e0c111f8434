"""``reactive dlq list|redrive|purge``: look at, retry and drop a client's dead letters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reactive_cli.commands import flags, output
from reactive_cli.commands.options import (
    DEFAULT_STATE,
    ConfigPath,
    Json,
    StateDir,
    settings_for,
    target,
)
from reactive_users.core import dlq, exitcodes, naming, resources
from reactive_users.core.aws import dlq as dlq_sqs
from reactive_users.core.aws import queues
from reactive_users.core.errors import UsageError
from reactive_users.core.settings import Settings

app = typer.Typer(
    name="dlq",
    help="Dead letters: list a client's, move them back to its queue, or purge them.\n\n"
    "Example: reactive dlq list --client shop",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    cls=flags.Group,
)

Client = Annotated[
    str,
    typer.Option(
        "--client", "-c", help="The client whose dead letters to handle.", show_default=False
    ),
]


@dataclass(frozen=True)
class Target:
    """One client's queues, and the settings to reach them."""

    settings: Settings
    client: str
    fifo: bool

    @property
    def dlq_name(self) -> str:
        return naming.dlq_name(self.settings.prefix, self.client, fifo=self.fifo)

    @property
    def queue_name(self) -> str:
        return naming.queue_name(self.settings.prefix, self.client, fifo=self.fifo)

    def url(self, *, dead_letters: bool = True) -> str:
        return queues.client_queue_url(
            self.settings, self.client, dead_letters=dead_letters, fifo=self.fifo
        )


@app.command("list", cls=flags.Command)
def list_letters(
    client: Client,
    json_output: Json = False,
    config_path: ConfigPath = None,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """List every message in a client's dead-letter queue, with the reason.

    A message the listener sent there itself (it could never be applied) shows the reason
    the listener recorded ("ContractError: ..." for a malformed body, "UsernameCollision:
    ..." for a refused event); one SQS's redrive policy moved there shows a reason
    recomputed from the body: "malformed: ..." when it is no valid event, else a valid
    event the client refused (the listener's log has the details under its event id).
    --json says which ("reason_from": "listener" or "body"). Times are UTC: "sent" is
    when the message reached the queue it is in (for a message the listener sent, the
    dead-letter queue), "first receive" when a listener first took it from the client's
    queue; SQS records no time of later receives. "receives" counts every receive before
    this listing, on the queue and the DLQ: the listener's attempts plus earlier looks by
    `dlq list` and `dlq redrive --id` (SQS counts those too; this listing's own is left
    out). Listing consumes nothing: each message is held invisible while the rest is
    read, then handed back at once. The table cuts bodies to 120 characters; --json
    gives them whole. On a FIFO queue SQS hands out no more of a message group while
    some of it is held, so only the first messages of each group may show.

    Example: reactive dlq list --client shop --json
    """
    target = _target(client, config_path, state_dir)
    url = target.url()
    with Console(stderr=True).status(f"Reading {target.dlq_name}..."):
        listing = dlq_sqs.list_letters(target.settings, url)
    if json_output:
        data = {
            "client": client,
            "queue": target.dlq_name,
            "count": len(listing.letters),
            "messages": [dlq.as_json(letter) for letter in listing.letters],
            "not_handed_back": listing.not_released,
        }
        typer.echo(json.dumps(data, indent=2))
    else:
        console = output.console()
        if listing.letters:
            console.print(_table(listing.letters))
            console.print(f"{len(listing.letters)} dead letter(s) in {target.dlq_name}.")
        else:
            console.print(f"No dead letters: {target.dlq_name} is empty.")
    _warn_not_released(listing.not_released)


@app.command("redrive", cls=flags.Command)
def redrive(
    client: Client,
    message_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="Move only this message (an id `dlq list` shows).", show_default=False
        ),
    ] = None,
    all_letters: Annotated[bool, typer.Option("--all", help="Move every message.")] = False,
    config_path: ConfigPath = None,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Move dead letters back to the client's queue, for its listener to try again.

    Give exactly one of --id MESSAGE_ID or --all. Each message is sent to the queue with
    the same body and message attributes, less the reactive.dlq.* ones the listener added
    (on FIFO queues: the same message group, a fresh deduplication id), and deleted from
    the dead-letter queue only once SQS accepted the copy, so a failed send loses
    nothing. Fix the cause first (see `dlq list`), or it comes back: at once if the
    listener refuses it again, after maxReceiveCount receives if it keeps failing for
    now. Exits 1 if any message could not be moved, and 2 if --id is not in the
    dead-letter queue.

    Example: reactive dlq redrive --client shop --all
    """
    if (message_id is None) == (not all_letters):
        raise UsageError("give exactly one of --id MESSAGE_ID or --all")
    target = _target(client, config_path, state_dir)
    dlq_url, queue_url = target.url(), target.url(dead_letters=False)
    console = output.console()
    with Console(stderr=True).status(f"Moving {target.dlq_name} to {target.queue_name}...") as s:

        def progress(moved: int) -> None:
            s.update(f"Moving {target.dlq_name} to {target.queue_name}: {moved} moved...")

        done = dlq_sqs.redrive(
            target.settings,
            dlq_url=dlq_url,
            queue_url=queue_url,
            fifo=target.fifo,
            message_id=message_id,
            progress=progress,
        )
    _warn_not_released(done.not_released)
    if not done.found:
        raise UsageError(
            f"message {message_id} is not in {target.dlq_name}: "
            f"`reactive dlq list --client {client}` shows the messages there"
        )
    for failed_id, why in done.failed.items():
        console.print(f"{failed_id}: not moved: {why}", style="red", highlight=False)
    if all_letters and not done.moved and not done.failed:
        console.print(f"Nothing to move: {target.dlq_name} is empty.")
        return
    summary = f"Moved {done.moved} message(s) from {target.dlq_name} to {target.queue_name}."
    if done.failed:
        console.print(
            f"FAILED: {summary} {len(done.failed)} could not be moved and stay in "
            f"{target.dlq_name}.",
            style="red",
            highlight=False,
        )
        raise typer.Exit(code=exitcodes.FAILED)
    console.print(summary, style="green", highlight=False)


@app.command("purge", cls=flags.Command)
def purge(
    client: Client,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config_path: ConfigPath = None,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Delete every message in a client's dead-letter queue, for good (PurgeQueue).

    Only the dead-letter queue: the client's queue is not touched. Asks first unless
    --yes, saying how many messages are there; declining exits 1. SQS allows one purge
    of a queue per 60 seconds and may take that long to finish it.

    Example: reactive dlq purge --client shop --yes
    """
    target = _target(client, config_path, state_dir)
    url = target.url()
    console = output.console()
    count = dlq_sqs.depth(target.settings, url)
    if count == 0:
        console.print(f"Nothing to purge: {target.dlq_name} is empty.")
        return
    if not yes and not _confirm(f"Delete the {count} message(s) in {target.dlq_name} for good?"):
        console.print(f"Not purged: {target.dlq_name} keeps its {count} message(s).")
        raise typer.Exit(code=exitcodes.FAILED)
    dlq_sqs.purge(target.settings, url)
    console.print(f"Purged {target.dlq_name}: it held {count} message(s).")


def _target(client: str, config_path: Path | None, state_dir: Path) -> Target:
    """The client's queues, per ``config.RULE`` (the local stack's, or the config's).

    A client must be known: in the local stack, or in the config or what provisioning
    recorded for its prefix (``ConfigError``/``UsageError`` naming the known ones).
    """
    found = target(config_path, state_dir, enter=True)  # a local stack: talk to it
    cfg = found.config
    naming.check_client_name(client)
    if found.layout is not None:
        cfg.client(client)  # ConfigError naming the local stack's clients
        return Target(settings=settings_for(cfg), client=client, fifo=False)
    settings = Settings.from_env(prefix=cfg.prefix, state_dir=state_dir.absolute())
    if client not in resources.recorded_clients(settings.state_dir, cfg.prefix):
        cfg.client(client)  # ConfigError naming the config's clients
    return Target(settings=settings, client=client, fifo=cfg.fifo)


def _confirm(question: str) -> bool:
    """Ask on the terminal; no answer (end of input, Ctrl-C) is a no."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        typer.echo()
        return False


def _table(letters: list[dlq.DeadLetter]) -> Table:
    table = Table(*dlq.TABLE_COLUMNS, show_lines=True)
    message_id, _, _, receives, reason, body = table.columns
    message_id.no_wrap = True  # whole, to copy into `redrive --id`
    receives.justify = "right"
    for column in (reason, body):
        column.overflow, column.ratio = "fold", 1
    for row in dlq.table_rows(letters):
        table.add_row(*row)
    return table


def _warn_not_released(not_released: dict[str, str]) -> None:
    err = Console(stderr=True)
    for message_id, why in not_released.items():
        err.print(
            f"message {message_id} was not handed back ({why}): it is visible again "
            f"within {dlq_sqs.LIST_VISIBILITY_SECONDS} s",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )
