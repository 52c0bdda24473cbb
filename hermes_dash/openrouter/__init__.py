"""hermes-dash openrouter layer."""
