"""Helpers that the MNIST-on-Kubeflow notebooks call: settings, AWS, manifests, backends.

Only the modules the notebooks use are named here; nothing is imported eagerly, so
`import helpers` stays fast and creates no client, session or cache.
"""
