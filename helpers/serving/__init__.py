"""TensorFlow Serving for the series: a REST client, and a local server that speaks the same API.

`client.ServingClient` talks to real TF Serving on a cluster or to `server` on the local
backend, so notebooks 05 and 06 never care which one answers.
"""
