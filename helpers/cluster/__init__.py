"""The kubeflow backend's Kubernetes client: log in, apply, delete, wait and read logs.

One action per module, in the manner of kopf's `_cogs/clients`: `login`, `apply`, `delete`,
`wait`, `logs`. Every call goes through `_api.request`, which retries transient failures and
translates `kubernetes`/`urllib3` errors into `helpers.errors.ClusterError`, so no client
exception escapes this package. Import the modules and call through them (`apply.apply(...)`).
"""
