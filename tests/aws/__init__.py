"""Tests of helpers.aws (a package, so its test modules' names cannot clash with other folders')."""
