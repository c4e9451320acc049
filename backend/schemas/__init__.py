"""Pydantic models of the API, by role: input, partial update, output, pages."""
