"""Build the one boto3 session a notebook uses, with botocore's standard retry mode.

Clients are made from it per call (never at import time, never cached on a class), so a
changed profile or region takes effect at the next `make_session`.
"""

from __future__ import annotations

from typing import Final

import boto3.session
import botocore.config
import botocore.exceptions
import botocore.session

from helpers import errors, settings as settings_module

# botocore's "standard" mode retries only throttling, 5xx and connection errors, with jittered
# exponential backoff; its base delay is botocore's own, so `api_backoff_s` does not apply here.
RETRY_MODE: Final = "standard"


def client_config(*, settings: settings_module.Settings) -> botocore.config.Config:
    """The botocore client config: standard retries, `settings.api_retries` attempts in total."""
    return botocore.config.Config(retries={"mode": RETRY_MODE, "total_max_attempts": settings.api_retries})


def make_session(*, settings: settings_module.Settings) -> boto3.session.Session:
    """A boto3 session for `settings.region` and `settings.aws_profile` (empty: the default chain).

    Every client made from it uses `client_config`. Raises ConfigError when the profile does not exist.
    """
    core = botocore.session.Session(profile=settings.aws_profile or None)
    try:
        # Reading the scoped config is what checks that the profile exists.
        core.get_scoped_config()
    except botocore.exceptions.ProfileNotFound as e:
        raise errors.ConfigError("aws_profile", settings.aws_profile, f"{e}; see ~/.aws/config") from e
    core.set_default_client_config(client_config(settings=settings))
    return boto3.session.Session(botocore_session=core, region_name=settings.region)
