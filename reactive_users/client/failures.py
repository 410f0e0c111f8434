"""Why a message failed, and what the listener does about it: the rules, pure.

Rule 1 (permanent): a message that can never succeed goes to the dead-letter queue at
once, sent there by the listener itself (``reactive_users/client/listener/``):

- ``SignatureError``: the message is not signed by a key this client accepts (unsigned,
  an unknown key id, or a signature that does not match: forged or tampered;
  ``reactive_users.core.signing``), checked before the body is even decoded;
- ``ContractError``: the body is no valid event (malformed, unknown schema version,
  unknown action, over the size limit; ``reactive_users.core.contract``);
- ``ApplyError``: a valid event this client refuses, ``UsernameCollision`` included (the
  never-merge rule: the username belongs to a client-local user), a version implausibly
  far ahead (``ImplausibleVersion``, ``decide.implausible``), or a value it cannot store.
  Fixing the cause and ``reactive dlq redrive`` brings it back.

Rule 2 (transient): anything else may succeed later: the database or Redis unavailable
(``OperationalError``, ``InterfaceError``), an unexpected exception. The message is handed
back with a visibility timeout that doubles with each receive (``retry_delay_seconds``), so
that a short outage does not use up the queue's maxReceiveCount: from the first receive on,
the message stays in the queue for 5 + 10 + 20 + 40 + 80 = 155 s under the default
maxReceiveCount of 5 (30 s receives used to give it 150 s), and SQS's redrive policy moves
it to the dead-letter queue if it still fails then.
"""

from __future__ import annotations

from dataclasses import dataclass

from reactive_users.core.dlq import MAX_REASON_CHARS, truncate
from reactive_users.core.errors import ApplyError, ContractError, SignatureError

#: Exceptions that make a message permanently unappliable (Rule 1).
PERMANENT = (SignatureError, ContractError, ApplyError)
#: Visibility timeout after a transient failure on a message's first receive, in seconds.
RETRY_BASE_SECONDS = 5
#: Longest visibility timeout after a transient failure, in seconds.
RETRY_CAP_SECONDS = 300
#: First back-off after a failed AWS call, in seconds; doubles with each failure.
BACKOFF_BASE_SECONDS = 0.5
#: Longest back-off between attempts, in seconds.
BACKOFF_CAP_SECONDS = 30.0


@dataclass(frozen=True)
class Failure:
    """Why one message was not applied, and whether trying again can help."""

    permanent: bool
    #: ``Type: message`` on one line, at most MAX_REASON_CHARS characters.
    reason: str


def classify(exc: BaseException) -> Failure:
    """The failure ``exc`` is: permanent for a bad event (Rule 1), else transient."""
    return Failure(permanent=isinstance(exc, PERMANENT), reason=one_line(exc))


def one_line(exc: BaseException, limit: int = MAX_REASON_CHARS) -> str:
    """``Type: message`` flattened to one line and cut to ``limit`` characters."""
    return truncate(f"{type(exc).__name__}: {exc}", limit)


def retry_delay_seconds(receives: int) -> int:
    """Visibility timeout for a message that failed transiently on receive ``receives``."""
    attempt = max(1, receives)
    return min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * (1 << min(attempt - 1, 16)))


def compute_backoff(attempt: int, *, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Seconds to wait before attempt ``attempt + 1`` after ``attempt`` failures in a row:
    BACKOFF_BASE_SECONDS, doubling, at most ``cap``."""
    if attempt < 1:
        return 0.0
    return min(cap, BACKOFF_BASE_SECONDS * (1 << min(attempt - 1, 30)))
