"""Recording the statements the customer master runs, whichever way they run: through SQLAlchemy (its cursor
events) or compiled once and run on the driver itself (resolvers/compiled_read.py, past those events)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from resolvers.compiled_read import CompiledRead

Statement = tuple[str, tuple[Any, ...]]


@contextmanager
def master_statements(tables: tuple[str, ...] | None = None) -> Iterator[list[Statement]]:
    """Every SELECT while the block runs, as (SQL text, parameters); only those naming one of `tables` if given."""
    seen: list[Statement] = []

    def record(statement: str, parameters: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and (tables is None or any(t in statement
                                                                                        for t in tables)):
            seen.append((statement, tuple(parameters) if isinstance(parameters, list | tuple) else (parameters,)))

    def on_cursor(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        record(statement, parameters)

    def traced(self: CompiledRead, conn: Any, values: Any) -> list[Any]:
        record(self.sql, self.bind(values))
        return run(self, conn, values)

    async def fetched(self: CompiledRead, conn: Any, values: Any) -> list[Any]:
        record(self.sql, self.bind(values))
        return await fetch(self, conn, values)

    run, fetch = CompiledRead.run, CompiledRead.fetch
    CompiledRead.run, CompiledRead.fetch = traced, fetched  # type: ignore[method-assign]
    event.listen(Engine, "before_cursor_execute", on_cursor)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", on_cursor)
        CompiledRead.run, CompiledRead.fetch = run, fetch  # type: ignore[method-assign]
