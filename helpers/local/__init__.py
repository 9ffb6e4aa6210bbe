"""The local backend's executor: a tiny, honest kubelet for a TFJob and a few Deployments.

`tfjob` runs a TFJob's replicas with the operator's TF_CONFIG under a `supervisor`;
`deployments` runs servers that outlive the kernel; `containers` maps container specs to
local processes; `services`, `ports`, `pids`, `probes`, `restarts` and `status` are their parts.
"""
