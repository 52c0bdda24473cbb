"""hermes-dash routing layer."""
