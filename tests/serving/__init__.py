"""Tests of helpers.serving, the serving manifest and the local TF Serving stand-in."""
