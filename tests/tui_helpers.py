"""Building the app on frozen demo data for snapshot and Pilot tests."""

from hermes_dash.tui.frozen import FROZEN_NOW, frozen_app, frozen_session, settle

__all__ = ["FROZEN_NOW", "frozen_app", "frozen_session", "settle"]
