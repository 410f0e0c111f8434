"""Exit codes of the ``reactive`` command, in one place (documented in the README)."""

OK = 0  # Everything worked.
FAILED = 1  # The command ran and reports a failure, or the operator declined a confirmation.
USAGE = 2  # Bad flags, arguments or configuration (reactive.toml, an unknown client).
AWS = 3  # An AWS (or local SNS/SQS endpoint) call failed: unreachable, denied, refused.
STACK = 4  # The local stack or supervisord could not do what was asked.
NOT_PROVISIONED = 5  # A queue or topic does not exist yet: run `reactive provision`.
UNREACHABLE = 6  # `reactive status`: a part it reports on could not be read (each on stderr).
