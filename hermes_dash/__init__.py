"""hermes-dash: a terminal dashboard for Hermes Agent on OpenRouter."""

__version__ = "0.1.0"
