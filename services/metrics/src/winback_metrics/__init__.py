"""winback metrics service."""
