"""Business rules, one module per use-case area; each write is one unit of work."""
