"""winback risk service."""
