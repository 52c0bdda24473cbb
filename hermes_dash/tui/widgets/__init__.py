"""hermes-dash tui widgets layer."""
