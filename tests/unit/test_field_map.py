"""REACTIVE_FIELD_MAP in the environment: ``master=client`` pairs (tuning.parse_field_map)."""

from __future__ import annotations

import pytest

from reactive_users.client.tuning import parse_field_map
from reactive_users.core.errors import ConfigError


def test_pairs_map_master_fields_to_client_fields():
    parsed = parse_field_map(
        "REACTIVE_FIELD_MAP", " name=full_name, email=email,is_active=is_active"
    )
    assert parsed == {"name": "full_name", "email": "email", "is_active": "is_active"}


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_unset_is_the_default_map(raw):
    assert parse_field_map("REACTIVE_FIELD_MAP", raw) is None


@pytest.mark.parametrize("raw", ["name", "name=", "=full_name"])
def test_a_malformed_pair_is_a_config_error_with_an_example(raw):
    with pytest.raises(ConfigError, match="is not MASTER_FIELD=CLIENT_FIELD: e.g. name=full_name"):
        parse_field_map("REACTIVE_FIELD_MAP", raw)
