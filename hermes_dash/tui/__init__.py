"""hermes-dash tui layer."""
