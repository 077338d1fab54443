"""Persistence: SQLModel tables, engines, migrations and repository functions."""
