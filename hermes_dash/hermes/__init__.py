"""hermes-dash hermes layer."""
