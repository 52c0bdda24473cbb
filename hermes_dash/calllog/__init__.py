"""The call log: SQLite schema, queries and rollups, plus the recorder plugin."""
