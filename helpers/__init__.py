"""Helpers that the MNIST-on-Kubeflow notebooks call: settings, AWS, manifests, backends, plots.

Notebooks import the modules they use (`from helpers import backends, settings`). Nothing is
imported here, so `import helpers` stays fast and creates no client, session or cache.
"""
