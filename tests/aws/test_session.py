"""Tests of helpers.aws.session: region, profile and botocore's standard retries from settings."""

from __future__ import annotations

import os
import pathlib

import pytest

from helpers import errors
from helpers.aws import session as session_module

from . import conftest


def test_session_uses_region_and_standard_retries(make_settings) -> None:
    settings = make_settings(region="cn-northwest-1", api_retries=7)
    session = session_module.make_session(settings=settings)
    assert session.region_name == "cn-northwest-1"
    for service in ("s3", "ecr", "iam", "sts"):
        config = session.client(service).meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": 7}


def test_session_takes_credentials_from_the_environment(make_settings) -> None:
    credentials = session_module.make_session(settings=make_settings()).get_credentials()
    assert credentials is not None
    assert credentials.access_key == conftest.ACCESS_KEY


def test_session_uses_a_named_profile(make_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    pathlib.Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        "[profile workshop]\naws_access_key_id = AKIAPROFILEKEY000001\naws_secret_access_key = from-profile\n"
    )
    session = session_module.make_session(settings=make_settings(aws_profile="workshop", region="us-east-1"))
    assert session.profile_name == "workshop"
    assert session.region_name == "us-east-1"
    assert session.get_credentials().access_key == "AKIAPROFILEKEY000001"


def test_unknown_profile_is_a_config_error(make_settings) -> None:
    with pytest.raises(errors.ConfigError, match="aws_profile") as caught:
        session_module.make_session(settings=make_settings(aws_profile="missing"))
    assert caught.value.value == "missing"
