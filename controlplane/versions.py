"""The pinned versions of everything the control plane builds, in one place.

Each Go module below has a wrapper module under `controlplane/go/` whose go.mod and go.sum pin the
whole dependency graph; `python -m controlplane.wrappers` regenerates them after a version change.
"""

# Kubernetes 1.37: the newest release the module proxy serves; kubernetes-validate 1.37.0 (the
# manifest tests' offline schemas) has the same API, and EKS supports 1.37.
KUBERNETES = "v1.37.2"
# etcd 3.6 is what Kubernetes 1.37 is tested with; 3.6.16 is that line's newest patch.
ETCD = "v3.6.16"
# The training operator v1 (TFJob) lives on in its release-1.9 line; v1.9.4 is its newest tag.
TRAINING_OPERATOR = "v1.9.4"
# Kubeflow Trainer v2 and the JobSet release it requires.
TRAINER = "v2.3.0"
JOBSET = "v0.12.0"
# Istio's API module, only for the VirtualService and AuthorizationPolicy CRDs.
ISTIO_API = "v1.28.0"
