"""Every error reactive-users raises on purpose, in one hierarchy.

    ReactiveError                  base: the CLI prints "Type: message" and exits non-zero
    ├── ConfigError                a setting is missing or invalid
    ├── ContractError              bytes that are not a valid event envelope
    ├── ApplyError                 a valid event that this client refuses to apply
    │   └── UsernameCollision      the username belongs to a client-local user
    └── AwsError                   an AWS (or local SNS/SQS endpoint) call failed
        ├── EndpointUnreachable    no answer from the endpoint (retryable)
        ├── Throttled              AWS asked us to slow down (retryable)
        ├── NoCredentials          the standard credential chain found nothing
        ├── AccessDenied           credentials lack a permission
        ├── QueueNotFound          the queue does not exist (run provisioning)
        ├── TopicNotFound          the topic does not exist (run provisioning)
        └── InvalidRequest         AWS refused the request's parameters (permanent)

This module is stdlib-only: the contract imports it.
"""

from __future__ import annotations


class ReactiveError(Exception):
    """Base of every error raised on purpose by reactive-users."""

    #: Whether trying the same operation again later may succeed.
    retryable: bool = False


class ConfigError(ReactiveError):
    """A setting is missing or has an invalid value."""


class ContractError(ReactiveError):
    """Bytes that do not decode into a valid event envelope."""


class ApplyError(ReactiveError):
    """A valid event that this client refuses to apply."""


class UsernameCollision(ApplyError):
    """The replicated username already belongs to a client-local user."""


class AwsError(ReactiveError):
    """An AWS (or local SNS/SQS endpoint) call failed."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class EndpointUnreachable(AwsError):
    """The SNS/SQS endpoint did not answer."""

    retryable = True


class Throttled(AwsError):
    """AWS asked us to slow down, or answered with a server error."""

    retryable = True


class NoCredentials(AwsError):
    """The standard AWS credential chain found no credentials."""


class AccessDenied(AwsError):
    """The credentials in use lack a permission."""


class QueueNotFound(AwsError):
    """The SQS queue does not exist."""


class TopicNotFound(AwsError):
    """The SNS topic does not exist."""


class InvalidRequest(AwsError):
    """AWS refused the request's parameters; retrying will not help."""
