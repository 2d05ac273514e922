"""Import every table module so SQLModel.metadata knows them all (Alembic, create_all)."""

from storage import activity_models, broadcast_models, knowledge_models, models, task_models  # noqa: F401
from storage import reminder_models  # noqa: F401
