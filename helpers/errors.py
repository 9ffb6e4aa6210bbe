"""The errors that `helpers` raises, under one base class.

Library errors (botocore, kubernetes, subprocess) are translated into these at the
boundary, so a notebook cell shows one readable line that names what went wrong and what
to do, and callers can catch `HelpersError` without knowing which library was used.
"""

from __future__ import annotations


class HelpersError(Exception):
    """Raised for any failure that `helpers` knows how to describe; the base of the others."""


class ConfigError(HelpersError, ValueError):
    """Raised when a parameter or setting has a value that cannot be used.

    Carries the parameter's name and the rejected value so the message can name both.
    """

    def __init__(self, parameter: str, value: object, reason: str) -> None:
        self.parameter = parameter
        self.value = value
        self.reason = reason
        super().__init__(f"parameter {parameter!r} = {value!r}: {reason}")


class AwsError(HelpersError):
    """Raised when an AWS call fails; names the operation, the error code and, when known,
    the IAM permission that is missing."""

    def __init__(
        self,
        operation: str,
        code: str,
        message: str,
        *,
        permission: str | None = None,
    ) -> None:
        self.operation = operation
        self.code = code
        self.message = message
        self.permission = permission
        text = f"AWS {operation} failed ({code}): {message}"
        if permission:
            text += f" (missing permission: {permission})"
        super().__init__(text)


class ClusterError(HelpersError):
    """Raised when the Kubernetes API refuses or fails a call; names the action, the object
    and the HTTP status."""

    def __init__(self, action: str, target: str, message: str, *, status: int | None = None) -> None:
        self.action = action
        self.target = target
        self.message = message
        self.status = status
        where = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{action} {target} failed{where}: {message}")


class ProcessFailed(HelpersError):
    """Raised when a local process (a replica, a server) exits with a non-zero code; names
    it, its exit code and where its log is kept."""

    def __init__(self, name: str, exit_code: int, *, log_path: str | None = None, tail: str = "") -> None:
        self.name = name
        self.exit_code = exit_code
        self.log_path = log_path
        self.tail = tail
        text = f"{name} exited with code {exit_code}"
        if log_path:
            text += f"; log: {log_path}"
        if tail:
            text += f"\n--- last lines ---\n{tail}"
        super().__init__(text)


class WaitTimeout(HelpersError):
    """Raised when something awaited (a rollout, a job, a server) is not ready in time; names
    what was awaited, the limit and the last state seen."""

    def __init__(self, what: str, timeout_s: float, *, last_state: str = "") -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.last_state = last_state
        text = f"timed out after {timeout_s:g} s waiting for {what}"
        if last_state:
            text += f" (last state: {last_state})"
        super().__init__(text)


class MissingRecord(HelpersError):
    """Raised when a notebook reads what an earlier one hands on (the state file's `section`) and it
    is not there or cannot be read; names the notebook that writes it and the state file."""

    def __init__(self, section: str, *, notebook: str, state_file: str, problem: str = "") -> None:
        self.section = section
        self.notebook = notebook
        self.state_file = state_file
        self.problem = problem
        if problem:
            text = f"the {section} record in {state_file} cannot be read ({problem}): run {notebook} again"
        else:
            text = f"no {section} record in {state_file}: run {notebook} first"
        super().__init__(text)
