"""A real Kubernetes control plane on loopback, built from Go modules, for the kubeflow backend's tests.

etcd, kube-apiserver and kube-controller-manager (and the Kubeflow controllers) are built once from
the Go module proxy (`build`), started as plain processes on 127.0.0.1 (`cluster`), and given a
namespace made the way a Kubeflow profile is (`profile`). `python -m controlplane up|down|status`.
This is development and test tooling: nothing in `helpers` imports it.
"""
