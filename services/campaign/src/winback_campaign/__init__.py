"""winback campaign service."""
