"""Exit codes of the ``reactive`` command and the projects' ``listen``, in one place
(documented in the README), and which of our errors exits with which."""

from __future__ import annotations

from reactive_users.core.errors import (
    AwsError,
    ConfigError,
    QueueNotFound,
    ReactiveError,
    TopicNotFound,
    UsageError,
)

OK = 0  # Everything worked.
FAILED = 1  # The command ran and reports a failure, or the operator declined a confirmation.
USAGE = 2  # Bad flags, arguments or configuration (reactive.toml, an unknown client).
AWS = 3  # An AWS (or local SNS/SQS endpoint) call failed: unreachable, denied, refused.
STACK = 4  # The local stack or supervisord could not do what was asked.
NOT_PROVISIONED = 5  # A queue or topic does not exist yet: run `reactive provision`.
UNREACHABLE = 6  # `reactive status`: a part it reports on could not be read (each on stderr).

#: Our errors and their exit codes, most specific first; any other ReactiveError is STACK.
EXIT_CODES: tuple[tuple[type[ReactiveError], int], ...] = (
    (ConfigError, USAGE),
    (UsageError, USAGE),
    (QueueNotFound, NOT_PROVISIONED),
    (TopicNotFound, NOT_PROVISIONED),
    (AwsError, AWS),
)


def exit_code(error: ReactiveError) -> int:
    """The exit code for one of our errors."""
    return next((code for cls, code in EXIT_CODES if isinstance(error, cls)), STACK)
