"""Who the credentials belong to (STS GetCallerIdentity): the first check of notebook 01.

The account id and partition it returns name every ARN, bucket default and registry host later.
"""

from __future__ import annotations

import dataclasses

import boto3.session

from helpers.aws import failures


@dataclasses.dataclass(frozen=True)
class Identity:
    """The caller: 12-digit account id, the IAM ARN of the user or assumed role, and its unique id."""

    account: str
    arn: str
    user_id: str

    @property
    def partition(self) -> str:
        """The partition the credentials live in, read from the ARN (`aws`, `aws-cn`, ...)."""
        return self.arn.split(":")[1]


def caller_identity(*, session: boto3.session.Session) -> Identity:
    """The identity behind the session's credentials; raises AwsError when there are none or they are refused."""
    with failures.translated("sts", "GetCallerIdentity"):
        response = session.client("sts").get_caller_identity()
    return Identity(account=response["Account"], arn=response["Arn"], user_id=response["UserId"])
