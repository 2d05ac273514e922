"""SQL expressions that each database spells its own way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class unix_seconds(FunctionElement[int]):
    """Whole seconds since 1970-01-01 UTC of a stored UTC time, counted by the database.

    Cheaper than turning every value into a ``datetime`` in Python when a big export only
    needs a number, and exact (no float day fractions) on SQLite and PostgreSQL alike.
    """

    type = BigInteger()
    inherit_cache = True
    name = "unix_seconds"


@compiles(unix_seconds, "sqlite")
def _unix_seconds_sqlite(element: unix_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # The value is stored as naive UTC text, which strftime reads as UTC.
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(unix_seconds)
def _unix_seconds_default(element: unix_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"
