"""What every channel's inbox worker shares: which failures may pass, the wait before the next
try, and the name a process's leases go by."""

from __future__ import annotations

import os
import socket
import uuid

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

TRANSIENT = (OperationalError, InterfaceError, PoolTimeout, ConnectionError, TimeoutError)


def is_transient(error: BaseException | None) -> bool:
    """Whether a failure may pass by itself: the database or its connection, not our code."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT)


def backoff(attempts: int) -> float:
    """Seconds before the next try of a failed update or event: 1, 2, 4 …"""
    return float(2 ** max(0, attempts - 1))


def worker_id() -> str:
    """A name for this process's leases: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
