"""Offline checks of every rendered manifest: schemas, golden files and good manners on a cluster."""
