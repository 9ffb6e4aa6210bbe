"""The errors that `helpers` raises, under one base class.

Library errors (botocore, kubernetes, subprocess) are translated into these at the
boundary, so a notebook cell shows one readable line that names what went wrong and what
to do, and callers can catch `HelpersError` without knowing which library was used.
"""

from __future__ import annotations

import dataclasses


class HelpersError(Exception):
    """Raised for any failure that `helpers` knows how to describe; the base of the others."""


# The errors raised below are dataclasses: the generated __init__ keeps each error's structured fields,
# and `__str__` writes the readable line from them. eq=False keeps an exception equal only to itself
# (and hashable), as every other exception is.


@dataclasses.dataclass(eq=False)
class ConfigError(HelpersError, ValueError):
    """Raised when a parameter or setting has a value that cannot be used.

    Carries the parameter's name and the rejected value so the message can name both.
    """

    parameter: str
    value: object
    reason: str

    def __str__(self) -> str:
        return f"parameter {self.parameter!r} = {self.value!r}: {self.reason}"


@dataclasses.dataclass(eq=False)
class AwsError(HelpersError):
    """Raised when an AWS call fails; names the operation, the error code and, when known,
    the IAM permission that is missing."""

    operation: str
    code: str
    """AWS's error code ("NoSuchBucket", "AccessDenied"), or the botocore exception's name: what callers test."""
    message: str
    _: dataclasses.KW_ONLY
    permission: str | None = None
    """The IAM action to ask an administrator for, when `code` is an access denial."""

    def __str__(self) -> str:
        missing = f" (missing permission: {self.permission})" if self.permission else ""
        return f"AWS {self.operation} failed ({self.code}): {self.message}{missing}"


class ApiError(HelpersError):
    """The base of the errors of an HTTP API, ClusterError (Kubernetes) and ServingError (TF Serving);
    not raised itself.

    Both carry the server's message and its HTTP status and read `<call> (HTTP <status>): <message>`.
    It is not a dataclass: each subclass declares these fields after its own, so its positional
    arguments stay in the order its callers write them.
    """

    message: str
    """What went wrong and what to do, with the server's own words when it answered."""
    status: int | None
    """The HTTP status (None when the server did not answer): what callers test, e.g. 404 for absent."""

    def _call(self) -> str:
        """The failed call, as the message starts: "apply TFJob/mnist failed", a URL."""
        raise NotImplementedError

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self._call()}{where}: {self.message}"


@dataclasses.dataclass(eq=False)
class ClusterError(ApiError):
    """Raised when the Kubernetes API refuses or fails a call; names the action, the object
    and the HTTP status."""

    action: str
    """Words for the message: "apply", "read logs of"."""
    target: str
    """The object or collection, e.g. `TFJob/mnist in namespace ns`."""
    message: str
    """What went wrong and what to do (e.g. the RBAC rule to ask for on a 403)."""
    _: dataclasses.KW_ONLY
    status: int | None = None

    def _call(self) -> str:
        return f"{self.action} {self.target} failed"


@dataclasses.dataclass(eq=False)
class ProcessFailed(HelpersError):
    """Raised when a local process (a replica, a server) exits with a non-zero code; names
    it, its exit code and where its log is kept."""

    name: str
    exit_code: int
    _: dataclasses.KW_ONLY
    log_path: str | None = None
    tail: str = ""

    def __str__(self) -> str:
        log = f"; log: {self.log_path}" if self.log_path else ""
        tail = f"\n--- last lines ---\n{self.tail}" if self.tail else ""
        return f"{self.name} exited with code {self.exit_code}{log}{tail}"


@dataclasses.dataclass(eq=False)
class WaitTimeout(HelpersError):
    """Raised when something awaited (a rollout, a job, a server) is not ready in time; names
    what was awaited, the limit and the last state seen."""

    what: str
    timeout_s: float
    _: dataclasses.KW_ONLY
    last_state: str = ""

    def __str__(self) -> str:
        last = f" (last state: {self.last_state})" if self.last_state else ""
        return f"timed out after {self.timeout_s:g} s waiting for {self.what}{last}"


@dataclasses.dataclass(eq=False)
class MissingRecord(HelpersError):
    """Raised when a notebook reads what an earlier one hands on (the state file's `section`) and it
    is not there or cannot be read; names the notebook that writes it and the state file."""

    section: str
    _: dataclasses.KW_ONLY
    notebook: str
    state_file: str
    problem: str = ""

    def __str__(self) -> str:
        if self.problem:
            where = f"the {self.section} record in {self.state_file}"
            return f"{where} cannot be read ({self.problem}): run {self.notebook} again"
        return f"no {self.section} record in {self.state_file}: run {self.notebook} first"
