"""Provisioning, plan then apply: the SNS topic, and per client a queue, its DLQ, a subscription.

``plan`` is pure (what each resource should look like, and the steps from what exists to
it); ``apply`` reads what exists and carries a plan out. ``ensure`` does both.
"""

from reactive_cli.config import DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_VISIBILITY_TIMEOUT_SECONDS
from reactive_cli.provision.apply import apply_plan, ensure, read_existing
from reactive_cli.provision.model import (
    ClientSpec,
    Desired,
    Existing,
    ExistingQueue,
    ExistingSubscription,
    Plan,
    Provisioned,
    Step,
)
from reactive_cli.provision.plan import plan_provision, queue_attributes

__all__ = [
    "DEFAULT_MAX_RECEIVE_COUNT",
    "DEFAULT_VISIBILITY_TIMEOUT_SECONDS",
    "ClientSpec",
    "Desired",
    "Existing",
    "ExistingQueue",
    "ExistingSubscription",
    "Plan",
    "Provisioned",
    "Step",
    "apply_plan",
    "ensure",
    "plan_provision",
    "queue_attributes",
    "read_existing",
]
