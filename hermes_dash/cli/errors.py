"""The two kinds of expected failure every command reports as one line."""

from __future__ import annotations


class UsageError(Exception):
    """Bad flags or invalid input: exit 2, nothing changed."""


class RuntimeFailure(Exception):
    """An expected runtime failure with a one-line message: exit 1."""
