"""The listener's settings: defaults and ranges, in one place (stdlib-only, so that
``client/settings.py`` can read them before Django is set up).

- ``REACTIVE_LISTENER_VISIBILITY_SECONDS``: the visibility timeout a listener receives
  with, extended while a batch is in hand (``reactive_users/client/listener/heartbeat.py``):
  how long the batch of a killed listener stays invisible.
- ``REACTIVE_LISTENER_NOTIFY_BACKLOG``: socket frames a listener keeps waiting while the
  channel layer does not answer; past it the oldest are dropped
  (``reactive_users/client/listener/notifier.py``).
"""

from __future__ import annotations

#: The visibility timeout a listener receives with, by default, in seconds.
DEFAULT_VISIBILITY_SECONDS = 10
#: Shortest visibility timeout a listener may be given, in seconds (a third of it must
#: leave the heartbeat time for its call).
MIN_VISIBILITY_SECONDS = 2
#: Longest visibility timeout, in seconds: SQS's limit (12 hours).
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
#: Frames waiting for the channel layer at most, by default.
DEFAULT_NOTIFY_BACKLOG = 1000
#: Fewest and most frames a backlog may be given.
MIN_NOTIFY_BACKLOG = 1
MAX_NOTIFY_BACKLOG = 1_000_000
