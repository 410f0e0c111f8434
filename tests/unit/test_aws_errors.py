"""Every AWS error code we handle maps to one of our errors, most specific first."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from reactive_users.core import errors
from reactive_users.core.aws import ERROR_CODES, map_aws_errors


def client_error(code: str, status: int = 400) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(("code", "cls"), sorted(ERROR_CODES.items()))
def test_every_handled_code_is_mapped_to_its_error(code, cls):
    with pytest.raises(cls) as info, map_aws_errors("Op"):
        raise client_error(code)
    assert info.value.code == code
    assert str(info.value) == f"Op failed: {code}: {code} happened"
    assert isinstance(info.value.__cause__, ClientError)


def test_unknown_server_errors_are_retryable_and_unknown_client_errors_are_not():
    with pytest.raises(errors.Throttled), map_aws_errors():
        raise client_error("SomethingNew", status=503)
    with pytest.raises(errors.AwsError) as info, map_aws_errors():
        raise client_error("SomethingNew", status=400)
    assert type(info.value) is errors.AwsError and not info.value.retryable


def test_connection_failures_are_endpoint_unreachable_and_retryable():
    with pytest.raises(errors.EndpointUnreachable) as info, map_aws_errors("Publish"):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert info.value.retryable


def test_missing_credentials_say_how_to_configure_them():
    with pytest.raises(errors.NoCredentials, match="configure them"), map_aws_errors():
        raise NoCredentialsError()


def test_every_error_class_has_a_one_line_docstring():
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.ReactiveError):
            assert cls.__doc__ and "\n" not in cls.__doc__.strip(), cls


def test_every_error_maps_to_its_documented_exit_code():
    from reactive_users.core import exitcodes
    from reactive_users.core.exitcodes import exit_code

    cases = {
        errors.ConfigError("x"): exitcodes.USAGE,
        errors.UnknownProcess("x"): exitcodes.USAGE,
        errors.UnknownUser("x"): exitcodes.USAGE,
        errors.QueueNotFound("x"): exitcodes.NOT_PROVISIONED,
        errors.TopicNotFound("x"): exitcodes.NOT_PROVISIONED,
        errors.EndpointUnreachable("x"): exitcodes.AWS,
        errors.SupervisorNotRunning("x"): exitcodes.STACK,
        errors.PortInUse("x"): exitcodes.STACK,
        errors.ChannelLayerError("x"): exitcodes.STACK,
    }
    assert {type(e).__name__: exit_code(e) for e in cases} == {
        type(e).__name__: code for e, code in cases.items()
    }
