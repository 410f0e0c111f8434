"""Exit codes of the ``reactive`` command, in one place (documented in the README)."""

OK = 0  # Everything worked.
FAILED = 1  # The command ran and reports a failure (e.g. a check that did not pass).
USAGE = 2  # Bad flags, arguments or configuration.
AWS = 3  # An AWS (or local SNS/SQS endpoint) call failed.
STACK = 4  # The local stack or supervisord could not do what was asked.
