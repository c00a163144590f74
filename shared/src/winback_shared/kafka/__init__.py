"""Kafka helpers: publishing with acks=all, batch consumption with commits after the database."""
