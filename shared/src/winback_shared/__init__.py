"""Shared library of the winback services: events, Kafka, database and HTTP plumbing."""
