"""stackdeck's backend: an async FastAPI service over SQLAlchemy 2, asyncpg and PostgreSQL."""
