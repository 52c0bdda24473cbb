"""hermes-dash demo layer."""
