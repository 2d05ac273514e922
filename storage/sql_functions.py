"""SQL expressions that each database spells its own way."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, Boolean, literal
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


class contains_text(FunctionElement[bool]):
    """``column`` contains ``word``: % _ and / in the word are plain characters, and the case
    of Latin letters does not matter. ILIKE on PostgreSQL; SQLite's LIKE already ignores ASCII
    case, and a plain LIKE reads a row a quarter faster than ``lower(x) LIKE lower(y)``.
    """

    type = Boolean()
    inherit_cache = True
    name = "contains_text"

    def __init__(self, column: Any, word: str) -> None:
        super().__init__(column, literal("%" + _LIKE_SPECIAL.sub(r"/\1", word) + "%"))


_LIKE_SPECIAL = re.compile(r"([/%_])")


def _column_and_pattern(element: contains_text, compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(contains_text, "sqlite")
def _contains_text_sqlite(element: contains_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = _column_and_pattern(element, compiler, **kw)
    return f"({column} LIKE {pattern} ESCAPE '/')"


@compiles(contains_text)
def _contains_text_default(element: contains_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = _column_and_pattern(element, compiler, **kw)
    return f"({column} ILIKE {pattern} ESCAPE '/')"
