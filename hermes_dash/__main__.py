"""Allow `python -m hermes_dash`."""

from hermes_dash.cli import main

raise SystemExit(main())
