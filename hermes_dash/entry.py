"""The ``hermes-dash`` console script and ``python -m hermes_dash``.

A ctrl+c pressed as the program starts lands while the command line's modules are still
being imported, before ``main`` can catch it: here it ends the program as ``main`` would
(exit 130), not with a Python traceback.
"""

from __future__ import annotations


def run() -> int:
    """Import the command line, then run it."""
    try:
        from hermes_dash.cli import main
    except KeyboardInterrupt:
        return 130
    return main()
