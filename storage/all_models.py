"""Import every table module so SQLModel.metadata knows them all (Alembic, create_all)."""

from storage import (  # noqa: F401
    activity_models,
    broadcast_models,
    delivery_models,
    group_models,
    identity_models,
    inbox_models,
    knowledge_models,
    link_models,
    member_models,
    models,
    reminder_models,
    task_models,
    wecom_inbox_models,
    wecom_models,
)
