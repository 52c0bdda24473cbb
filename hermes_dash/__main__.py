"""Allow `python -m hermes_dash`."""

from hermes_dash.entry import run

raise SystemExit(run())
