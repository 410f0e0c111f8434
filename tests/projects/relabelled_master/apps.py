from reactive_users.master.apps import ReactiveMasterConfig


class OutboxConfig(ReactiveMasterConfig):
    label = "outbox"
