"""restarts: which exits each restart policy retries, and the 128 + signal convention."""

from __future__ import annotations

import pytest

from helpers.local import restarts


@pytest.mark.parametrize(
    ("policy", "exit_code", "restarted"),
    [
        ("Never", 1, False),
        ("Never", 0, False),
        ("OnFailure", 1, True),
        ("OnFailure", 0, False),
        ("Always", 0, True),
        ("ExitCode", 1, False),
        ("ExitCode", 127, False),
        ("ExitCode", 128, True),
        ("ExitCode", 130, True),
        ("ExitCode", 137, True),
        ("ExitCode", 255, True),
    ],
)
def test_restart_policy_table(policy: restarts.RestartPolicy, exit_code: int, restarted: bool) -> None:
    assert restarts.retryable(policy, exit_code) is restarted


@pytest.mark.parametrize(("returncode", "exit_code"), [(0, 0), (3, 3), (-9, 137), (-15, 143), (-2, 130)])
def test_signal_killed_process_counts_as_128_plus_signal(returncode: int, exit_code: int) -> None:
    assert restarts.exit_code_of(returncode) == exit_code
