"""Persistence: SQLModel tables, sessions, repositories and Alembic migrations."""
