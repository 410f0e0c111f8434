"""The SQS listener: long-poll the client's queue, apply each batch, tell the sockets, delete.

``serve`` (what the ``listen`` command runs) -> ``loop.Listener`` (the poll loop) ->
``sqs`` (receive, delete, hand back, dead-letter, depths) -> ``received`` (signature and
decoding) -> ``reactive_users.client.apply.apply_batch`` -> ``notifier`` (sends the frames
of each committed batch from its own thread: ``jobs``, emit-test ``acks``),
while ``heartbeat`` keeps the batch in hand invisible, ``stats`` counts it and ``alive``
renews the key in Redis that tells ``reactive status`` the loop runs.

Nothing is imported here: ``heartbeat``, ``alive`` and ``jobs`` stay importable without Django.
"""
