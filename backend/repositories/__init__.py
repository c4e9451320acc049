"""Queries, one module per aggregate: they take a session, return models and never commit."""
