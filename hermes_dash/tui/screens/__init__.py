"""hermes-dash tui screens layer."""
