"""Fixtures for the manifest tests: one test per catalogue case, and its rendered resources."""

from __future__ import annotations

import pytest

from helpers import manifests
from tests.manifests import cases


@pytest.fixture(params=cases.CASES, ids=[case.id for case in cases.CASES])
def case(request: pytest.FixtureRequest) -> cases.Case:
    """Each case of the catalogue in turn: every manifest, with default and with custom settings."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def resources(case: cases.Case) -> list[manifests.Resource]:
    """The case's rendered resources, as plain dicts."""
    return case.resources()
