"""Fixtures of the custom-user master suite (``--ds=tests.projects.email_master.settings``):
the project's own settings, pointed at this run's moto server under a prefix of the test's
own; the allow-list and exclusion rule stay the project's."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest

from devstack.signing import KEYS
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core.settings import Settings
from tests.master.sqs import Queue, Topic


@pytest.fixture(autouse=True)
def master_settings(settings, moto_endpoint: str, prefix: str, tmp_path) -> Settings:
    """The project's REACTIVE, on this run's moto, with the test signing keys."""
    config = replace(
        settings.REACTIVE,
        prefix=prefix,
        aws_region="us-east-1",
        aws_endpoint_url=moto_endpoint,
        topic_arn=None,
        state_dir=tmp_path,
        signing=KEYS,
    )
    settings.REACTIVE = config
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast
    return config


@pytest.fixture
def topic(master_settings: Settings, moto_endpoint: str) -> Topic:
    """The test's provisioned topic, with the queue of a client called "shop"."""
    sqs: Any = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    provisioned = ensure(master_settings, [ClientSpec(name="shop")])
    return Topic(arn=provisioned.topic_arn, queue=Queue(sqs, provisioned.queue_urls["shop"]))
