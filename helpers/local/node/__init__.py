"""The node agent: the local executor as a node of a real Kubernetes control plane.

It registers a Node, binds unscheduled pods to it, runs their containers as local processes
(each pod on its own loopback address), reports pod status and serves container logs the way a kubelet
does, so real controllers (deployment, job, training operator) drive the same processes that
`make run` starts. `python -m helpers.local.node --kubeconfig FILE --state-dir DIR` runs it.
"""
