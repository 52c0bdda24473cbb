"""hermes-dash services layer."""
