"""Import every table module so SQLModel.metadata knows them all (Alembic, create_all)."""

from storage import models  # noqa: F401
