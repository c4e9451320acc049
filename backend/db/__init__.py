"""Database plumbing: the engine, the embedded PostgreSQL and the ORM models."""
