"""Fixtures for the cluster client's contract tests: the API server stand-in and a client logged in to it.

Every test that uses the stand-in also proves the RBAC claim: at teardown, each request it
recorded must be one that a Kubeflow profile's `default-editor` may make in its own namespace,
under every release in tests/rbac.py. A test that provokes a refusal on purpose says so with
`@pytest.mark.rbac_exempt(reason)`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import settings as settings_module
from helpers.cluster import login
from tests import rbac

from . import fake_api as fake_api_module
from .objects import NAMESPACE


@pytest.fixture
def fake_api(request: pytest.FixtureRequest) -> Iterator[fake_api_module.FakeApiServer]:
    """A fresh API server stand-in on a free loopback port, stopped after the test.

    At teardown, fails the test for each recorded request that `default-editor` may not make
    in NAMESPACE under some Kubeflow release, unless the test is marked `rbac_exempt`.
    """
    with fake_api_module.FakeApiServer() as server:
        yield server
    exempt = request.node.get_closest_marker("rbac_exempt")
    if exempt is not None:
        if not (exempt.args or exempt.kwargs.get("reason")):
            pytest.fail("@pytest.mark.rbac_exempt needs a reason")
        return
    denied = rbac.denials(server.requests, namespace=NAMESPACE, granted=server.granted)
    if denied:
        pytest.fail(
            "requests that Kubeflow's kubeflow-edit (default-editor) would refuse:\n  " + "\n  ".join(denied),
            pytrace=False,
        )


@pytest.fixture
def cluster_settings(tmp_path: pathlib.Path) -> settings_module.Settings:
    """Kubeflow-backend settings with quick retries and a short default wait."""
    return settings_module.load(
        backend="kubeflow",
        state_dir=str(tmp_path / "state"),
        namespace=NAMESPACE,
        api_retries=3,
        api_backoff_s=0.01,
        wait_timeout_s=5.0,
    )


@pytest.fixture
def api(fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings) -> Iterator[Any]:
    """A real `kubernetes` ApiClient logged in to the stand-in; closed (its connections too) after the test."""
    client = login.connect(settings=cluster_settings, host=fake_api.url)
    yield client
    client.close()
