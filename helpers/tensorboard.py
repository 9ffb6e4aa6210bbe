"""Find and check the TensorBoard that 04 deploys: its URL under the gateway prefix, its runs.

TensorBoard serves under `/mnist/<namespace>/tensorboard/` on both backends (its
--path_prefix), so the URL a notebook prints is the Service URL plus that prefix.
"""

from __future__ import annotations

import time

import requests

from helpers import errors, settings as settings_module

# Seconds one request to TensorBoard may take; it answers /data/runs from memory.
REQUEST_TIMEOUT_S = 10.0
# TensorBoard rescans its logdir every 5 s by default; poll a little faster than that.
POLL_S = 2.0


def path_prefix(settings: settings_module.Settings) -> str:
    """The path TensorBoard serves under, the same behind the Kubeflow gateway and locally."""
    return f"/mnist/{settings.namespace}/tensorboard/"


def url(service_urls: dict[str, str], *, settings: settings_module.Settings) -> str:
    """TensorBoard's page URL from the Service URLs `deploy` returned; raises ConfigError when absent."""
    service = f"{settings.app_name}-tensorboard"
    if service not in service_urls:
        raise errors.ConfigError("service", service, f"was not deployed; deployed: {sorted(service_urls)}")
    return service_urls[service].rstrip("/") + path_prefix(settings)


def runs(page_url: str) -> list[str]:
    """The runs TensorBoard has found in its logdir (its own /data/runs endpoint)."""
    try:
        answer = requests.get(page_url + "data/runs", timeout=REQUEST_TIMEOUT_S)
        answer.raise_for_status()
    except requests.RequestException as e:
        raise errors.ProcessFailed(f"TensorBoard at {page_url}", 1, tail=str(e)) from e
    found = answer.json()
    if not isinstance(found, list):
        raise errors.ProcessFailed(f"TensorBoard at {page_url}", 1, tail=f"unexpected /data/runs answer: {found!r}")
    return sorted(str(run) for run in found)


def wait_for_runs(page_url: str, *, timeout_s: float) -> list[str]:
    """Poll until TensorBoard has found at least one run; raises WaitTimeout after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = runs(page_url)
        if found:
            return found
        if time.monotonic() >= deadline:
            raise errors.WaitTimeout(f"TensorBoard at {page_url} to find runs", timeout_s, last_state="no runs yet")
        time.sleep(POLL_S)
