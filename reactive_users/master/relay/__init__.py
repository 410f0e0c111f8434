"""The relay: publishing the outbox to SNS after commit, and sweeping what is left.

``triggers`` (after a commit: the publisher thread or a coalesced Celery task, ``kicks``)
-> ``publisher`` (the thread) or ``reactive_users/master/tasks.py`` (Celery) -> ``publish``
(one run) -> ``outbox`` (claim and settle rows) and ``sns`` (PublishBatch of one claim).
Rules with no I/O: ``claims`` (how long a claim holds), ``retry`` (backoff), ``pacing``
(holding at a client queue's depth; the depths are read by ``depths``).
"""
