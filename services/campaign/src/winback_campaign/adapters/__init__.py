"""Database tables, repositories and the consent client."""
