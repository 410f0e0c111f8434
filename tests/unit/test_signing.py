"""Signed envelopes: the golden signed form, key parsing, verification and its refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from reactive_users.core import signing
from reactive_users.core.contract import decode
from reactive_users.core.errors import ConfigError, SignatureError
from reactive_users.core.settings import Settings, signing_keys

GOLDEN = Path(__file__).parent / "data" / "signed_envelope_v1.json"
ENVELOPE = Path(__file__).parent / "data" / "envelope_v1.json"


def key(key_id: str, secret: bytes = b"k" * 32) -> str:
    return f"{key_id}:{base64.b64encode(secret).decode()}"


def golden() -> dict:
    return json.loads(GOLDEN.read_text())


def test_signing_the_golden_envelope_gives_the_golden_attributes():
    data = golden()
    ring = signing.parse_keys(data["key"])
    assert decode(data["body"]) == decode(ENVELOPE.read_text())  # the body is the golden one
    assert signing.attributes(data["body"], ring, action="updated") == data["message_attributes"]


def test_the_golden_signature_verifies_and_names_its_key():
    data = golden()
    value = data["message_attributes"][signing.ATTRIBUTE]["StringValue"]
    assert signing.verify(data["body"], value, signing.parse_keys(data["key"])) == "golden-k1"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda body, value: (body, None), "unsigned"),
        (lambda body, value: (body.replace('"Ana"', '"Eve"'), value), "does not match"),
        (lambda body, value: (body + " ", value), "does not match"),
        (lambda body, value: (body, value.replace("golden-k1", "other")), "does not accept"),
        (lambda body, value: (body, value[:-1] + "0"), "does not match"),
        (lambda body, value: (body, value.upper()), "malformed"),
        (lambda body, value: (body, "v2:" + value[3:]), "malformed"),
        (lambda body, value: (body, ""), "malformed"),
        (lambda body, value: (body, "v1:golden-k1:" + "0" * 5000), "malformed"),
    ],
)
def test_an_unsigned_tampered_or_foreign_message_is_refused_with_the_reason(change, why):
    data = golden()
    value = data["message_attributes"][signing.ATTRIBUTE]["StringValue"]
    body, value = change(data["body"], value)
    with pytest.raises(SignatureError, match=why):
        signing.verify(body, value, signing.parse_keys(data["key"]))


def test_a_message_signed_with_another_secret_under_an_accepted_id_is_refused():
    body = golden()["body"]
    forged = signing.signature(body, signing.parse_keys(key("golden-k1", b"x" * 32)))
    with pytest.raises(SignatureError, match="does not match"):
        signing.verify(body, forged, signing.parse_keys(golden()["key"]))


def test_clients_listing_two_keys_accept_either_and_the_master_signs_with_the_current():
    old, new = key("k1", b"1" * 32), key("k2", b"2" * 32)
    body = golden()["body"]
    by_old = signing.signature(body, signing.parse_keys(old))
    by_new = signing.signature(body, signing.parse_keys(new))
    client = signing.parse_keys(f"{old},{new}")
    assert signing.verify(body, by_old, client) == "k1"
    assert signing.verify(body, by_new, client) == "k2"
    master = signing.parse_keys(f"{old},{new}", current="k2")
    assert signing.signature(body, master) == by_new
    with pytest.raises(SignatureError, match="does not accept"):  # old key removed
        signing.verify(body, by_old, signing.parse_keys(new))


@pytest.mark.parametrize(
    ("text", "current", "message"),
    [
        ("", None, "REACTIVE_SIGNING_KEYS is empty"),
        ("k1", None, "is not id:secret"),
        (":" + base64.b64encode(b"k" * 32).decode(), None, "is not id:secret"),
        ("bad id:" + base64.b64encode(b"k" * 32).decode(), None, "is not id:secret"),
        ("k1:not base64!", None, "is not base64"),
        (key("k1", b"k" * 31), None, "key 'k1' is 31 bytes, fewer than 32"),
        (f"{key('k1')},{key('k1')}", None, "listed twice"),
        (key("k1"), "k9", "REACTIVE_SIGNING_KEY_ID='k9' is not among"),
    ],
)
def test_a_malformed_or_short_key_is_one_config_error_saying_how_to_fix_it(text, current, message):
    with pytest.raises(ConfigError, match=message) as caught:
        signing.parse_keys(text, current)
    assert "\n" not in str(caught.value)
    assert "k" * 20 not in str(caught.value)  # never the secret itself


def test_keys_take_url_safe_base64_without_padding_and_never_show_their_secret():
    secret = b"\xfb\xff" * 16
    ring = signing.parse_keys("k1:" + base64.urlsafe_b64encode(secret).decode().rstrip("="))
    assert ring.signer.secret == secret
    assert "secret" not in repr(ring) and repr(secret) not in repr(ring)
    assert signing.parse_keys(signing.generate_key("g1")).signer.key_id == "g1"


def test_the_settings_read_the_keys_and_the_current_id_from_the_environment():
    env = {"REACTIVE_SIGNING_KEYS": f"{key('k1')},{key('k2', b'2' * 32)}"}
    assert Settings.from_env({**env, "REACTIVE_STATE_DIR": "/x"}).signing is not None
    ring = Settings.from_env({**env, "REACTIVE_SIGNING_KEY_ID": "k2"}).signing
    assert ring is not None and ring.current == "k2" and ring.key_ids == ("k1", "k2")
    with pytest.raises(ConfigError, match="REACTIVE_SIGNING_KEYS is not"):
        Settings.from_env({"REACTIVE_SIGNING_KEY_ID": "k2"})


def test_without_keys_production_refuses_and_a_local_state_dir_generates_one_0600(tmp_path):
    with pytest.raises(ConfigError, match="must be set when REACTIVE_PRODUCTION=1"):
        signing_keys(Settings(production=True, state_dir=tmp_path))
    assert not (tmp_path / "signing.key").exists()
    first = signing_keys(Settings(state_dir=tmp_path))
    again = signing_keys(Settings(state_dir=tmp_path, prefix="other"))  # another process
    assert first == again and first.current.startswith("local-")
    assert (tmp_path / "signing.key").stat().st_mode & 0o777 == 0o600


def test_an_sns_wrapped_message_is_verified_over_its_message_with_the_attribute_sns_moved():
    data = golden()
    value = data["message_attributes"][signing.ATTRIBUTE]["StringValue"]
    wrapper = {
        "Type": "Notification",
        "Message": data["body"],
        "MessageAttributes": {signing.ATTRIBUTE: {"Type": "String", "Value": value}},
    }
    message = {"Body": json.dumps(wrapper)}
    assert signing.signed_part(message) == (data["body"], value)
    assert signing.verify_message(message, signing.parse_keys(data["key"])) == "golden-k1"
    wrapper["Message"] = data["body"].replace("Ana", "Eve")
    with pytest.raises(SignatureError, match="does not match"):
        signing.verify_message({"Body": json.dumps(wrapper)}, signing.parse_keys(data["key"]))


def test_a_raw_message_is_verified_over_its_body_with_its_sqs_attribute():
    data = golden()
    message = {"Body": data["body"], "MessageAttributes": data["message_attributes"]}
    assert signing.verify_message(message, signing.parse_keys(data["key"])) == "golden-k1"
    with pytest.raises(SignatureError, match="unsigned"):
        signing.verify_message({"Body": data["body"]}, signing.parse_keys(data["key"]))
