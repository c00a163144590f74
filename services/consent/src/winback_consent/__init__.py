"""winback consent service."""
