"""Every error reactive-users raises on purpose, in one hierarchy.

    ReactiveError                  base: the CLI prints "Type: message" and exits non-zero
    ├── ConfigError                a setting is missing or invalid                  (exit 2)
    ├── UsageError                 an argument names nothing that exists            (exit 2)
    │   ├── UnknownProcess         no supervisord process, group or client by that name
    │   └── UnknownUser            no master user by that name or id (emit-test)
    ├── ContractError              bytes that are not a valid event envelope
    ├── SignatureError             a message not signed by a key this component accepts
    ├── ApplyError                 a valid event that this client refuses to apply
    │   ├── UsernameCollision      the username belongs to a client-local user
    │   └── ImplausibleVersion     a version too far ahead of the one held
    ├── ChannelLayerError          the channel layer (Redis) could not be used      (exit 4)
    ├── StackError                 the local stack could not start or stop          (exit 4)
    │   ├── StackAlreadyUp         `up` found the stack's supervisord answering
    │   └── PortInUse              a port the stack needs is taken
    ├── SupervisorError            supervisord refused or could not do it           (exit 4)
    │   ├── SupervisorNotRunning   nothing answers on supervisord's unix socket
    │   └── SpawnFailed            a process exited before it counted as started
    └── AwsError                   an AWS (or local SNS/SQS endpoint) call failed   (exit 3)
        ├── EndpointUnreachable    no answer from the endpoint (retryable)
        ├── Throttled              AWS asked us to slow down (retryable)
        ├── NoCredentials          the standard credential chain found nothing
        ├── AccessDenied           credentials lack a permission
        ├── QueueNotFound          the queue does not exist: run provisioning       (exit 5)
        ├── TopicNotFound          the topic does not exist: run provisioning       (exit 5)
        └── InvalidRequest         AWS refused the request's parameters (permanent)

Exit codes are mapped in one table, ``reactive_users.core.exitcodes.EXIT_CODES``.
This module is stdlib-only: the contract imports it.
"""

from __future__ import annotations


class ReactiveError(Exception):
    """Base of every error raised on purpose by reactive-users."""

    #: Whether trying the same operation again later may succeed.
    retryable: bool = False


class ConfigError(ReactiveError):
    """A setting is missing or has an invalid value."""


class UsageError(ReactiveError):
    """A command-line argument names something that does not exist."""


class UnknownUser(UsageError):
    """No master user has that username or id."""


class ChannelLayerError(ReactiveError):
    """The channel layer (Redis) could not be reached or used."""


class ContractError(ReactiveError):
    """Bytes that do not decode into a valid event envelope."""


class SignatureError(ReactiveError):
    """A message that is unsigned, or not signed by a key this component accepts."""


class ApplyError(ReactiveError):
    """A valid event that this client refuses to apply."""


class UsernameCollision(ApplyError):
    """The replicated username already belongs to a client-local user."""


class PrivilegedLink(UsernameCollision):
    """REACTIVE_LINK_BY would link a privileged local user (REACTIVE_LINK_PRIVILEGED off)."""


class ImplausibleVersion(ApplyError):
    """An event whose version jumps implausibly far ahead of the one held."""


class SupervisorError(ReactiveError):
    """supervisord refused, or could not do, what was asked."""


class SupervisorNotRunning(SupervisorError):
    """Nothing answers on supervisord's unix socket."""


class UnknownProcess(UsageError):
    """A name that is no supervisord process, group or client."""


class SpawnFailed(SupervisorError):
    """A process exited before supervisord counted it as started."""


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


class StackError(ReactiveError):
    """The local stack could not be started or stopped."""


class StackAlreadyUp(StackError):
    """``up`` found the stack's supervisord already answering."""


class PortInUse(StackError):
    """A port the stack needs is already taken."""
