"""Restart policies as the kubelet and the training operator apply them, and exit-code rules.

A process killed by signal N reports exit code 128 + N (the shell's and the container
runtime's convention); `ExitCode` treats 1-127 as permanent failures and 128-255 (killed,
preempted, out of memory) as worth a restart.
"""

from __future__ import annotations

from typing import Literal

RestartPolicy = Literal["Always", "OnFailure", "Never", "ExitCode"]
RESTART_POLICIES: tuple[RestartPolicy, ...] = ("Always", "OnFailure", "Never", "ExitCode")
# Exit codes from 128 up mean "killed by a signal" (shell convention); ExitCode retries those.
RETRYABLE_FROM = 128


def exit_code_of(returncode: int) -> int:
    """The container-style exit code: a process killed by signal N counts as 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def retryable(policy: RestartPolicy, exit_code: int) -> bool:
    """Whether `policy` restarts a child that exited with `exit_code` (0 restarts only under Always)."""
    if policy == "Always":
        return True
    if exit_code == 0 or policy == "Never":
        return False
    return policy == "OnFailure" or exit_code >= RETRYABLE_FROM
