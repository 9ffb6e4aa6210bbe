"""`helpers.cluster._translate`: no `kubernetes` or `urllib3` exception escapes the package (stand-in: injected faults).

Every public entry point meets a refused connection, a dropped connection, a 403 and 500s, which only the
stand-in can inject on demand. How real refusals read (401, 404, 409, 400, 403, 422): on the real API server
(tests/controlplane/test_cluster_client.py, test_contract.py).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import _translate, apply, delete, login, logs, wait

from . import fake_api as fake_api_module, objects

Action = Callable[[Any, settings_module.Settings], object]

# Every public entry point of the package, called the way the backend calls it.
PUBLIC_CALLS: dict[str, Action] = {
    "connect": lambda api, settings: login.connect(settings=settings, host=api.configuration.host).close(),
    "apply": lambda api, settings: apply.apply([objects.config_map()], api=api, settings=settings),
    "delete": lambda api, settings: delete.delete([objects.config_map()], api=api, settings=settings),
    "delete_by_label": lambda api, settings: delete.delete_by_label("a=b", kinds=["Job"], api=api, settings=settings),
    "wait_for_rollout": lambda api, settings: wait.wait_for_rollout("serving", api=api, settings=settings),
    "wait_for_job": lambda api, settings: wait.wait_for_job("build", api=api, settings=settings),
    "wait_for_tfjob": lambda api, settings: wait.wait_for_tfjob("mnist", api=api, settings=settings),
    "pod_logs": lambda api, settings: logs.pod_logs(pod="trainer", api=api, settings=settings),
    "task_log": lambda api, settings: logs.task_log(logs.TFJOB_PODS, "mnist", "Chief", api=api, settings=settings),
}


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("failure", ["refused", "reset", 403, 500])
@pytest.mark.parametrize("name", sorted(PUBLIC_CALLS))
def test_no_client_exception_escapes(
    api: Any,
    fake_api: fake_api_module.FakeApiServer,
    cluster_settings: settings_module.Settings,
    name: str,
    failure: str | int,
) -> None:
    if failure == "refused":
        api.configuration.host = _closed_port_url()
    else:
        fake_api.fail_next(*[failure] * 20)

    with pytest.raises(errors.ClusterError) as raised:
        PUBLIC_CALLS[name](api, cluster_settings)

    assert isinstance(raised.value.__cause__, _translate.CLIENT_ERRORS)
