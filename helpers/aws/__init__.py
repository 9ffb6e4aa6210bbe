"""The AWS side of the series (boto3): identity, partition-aware names, S3, ECR, IAM, pod credentials.

One module per job; `setup.setup(settings=...)` runs them in the order notebook 01 needs.
Nothing here creates a session or client at import time: every call takes a `session`.
"""
