"""The client's oversize policy as pure rules (reactive_users/client/limits.py)."""

from __future__ import annotations

import pytest

from reactive_users.client.limits import (
    Fit,
    Policy,
    fit,
    joined,
    limit_of,
    parse_max_lengths,
    parse_policy,
    split,
)
from reactive_users.core.errors import ConfigError


def test_a_value_within_the_limit_is_stored_whole_under_either_policy():
    for policy in Policy:
        assert fit("first_name", "Ana", 3, policy) == Fit("Ana")
        assert fit("first_name", "Ana", None, policy) == Fit("Ana")


def test_a_longer_value_is_cut_under_truncate_and_refused_under_refuse():
    assert fit("first_name", "Maximilian", 4, Policy.TRUNCATE) == Fit("Maxi", cut=True)
    refused = fit("first_name", "Maximilian", 4, Policy.REFUSE)
    assert refused.refused.startswith(
        "first_name is 10 characters, more than this client's limit of 4"
    )


def test_a_username_is_never_cut():
    refused = fit("username", "abcdef", 4, Policy.TRUNCATE)
    assert not refused.cut and "a username is never cut" in refused.refused


def test_the_limit_is_the_smaller_of_the_models_and_the_configured_one():
    assert (limit_of(150, 30), limit_of(150, None), limit_of(20, 30), limit_of(None, None)) == (
        30,
        150,
        20,
        None,
    )


def test_settings_are_parsed_or_refused_in_one_line():
    assert parse_policy("P", None) is Policy.REFUSE
    assert parse_policy("P", " Truncate ") is Policy.TRUNCATE
    with pytest.raises(ConfigError, match="P='cut': use 'refuse' or 'truncate'"):
        parse_policy("P", "cut")
    assert parse_max_lengths("L", "first_name=30, last_name=20,") == {
        "first_name": 30,
        "last_name": 20,
    }
    for bad in ("first_name", "first_name=0", "=3", "first_name=x"):
        with pytest.raises(ConfigError, match="is not FIELD=LIMIT"):
            parse_max_lengths("L", bad)


def test_the_replica_records_each_cut_field_with_its_limit():
    assert joined({"last_name": 20, "first_name": 30}) == "first_name=30,last_name=20"
    assert split("first_name=30,last_name=20") == {"first_name": 30, "last_name": 20}
    assert split("first_name") == {"first_name": None}
    assert (joined({}), split("")) == ("", {})
