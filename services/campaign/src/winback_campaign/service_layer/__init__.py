"""Handlers: consuming status changes and running due steps."""
