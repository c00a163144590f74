"""winback console."""
