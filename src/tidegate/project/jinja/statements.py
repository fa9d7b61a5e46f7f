"""dbt's `run_query`, `{% call statement(...) %}` and `load_result`, for queries that read no
relation: tidegate renders without a warehouse, so a query that would read one is refused."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from tidegate.project.dbt_builtins import ConstantQueries, Table, relations_read
from tidegate.project.dbt_context import CompilerError, Unsupported
from tidegate.project.engines import DEFAULT_ENGINE, for_dbt_adapter


class Statements:
    """The statements of one load, run on an in-memory database opened on first use."""

    def __init__(self, adapter: str) -> None:
        self._dialect = (for_dbt_adapter(adapter) or DEFAULT_ENGINE).dialect  # the SQL its macros write
        self._constants: ConstantQueries | None = None
        self._results: dict[str, dict[str, Any]] = {}

    def members(self) -> dict[str, Any]:
        """The functions of dbt's context they answer."""
        return {"run_query": self.run_query, "statement": self.statement, "load_result": self.load_result}

    def run_query(self, sql: Any) -> Table:
        return self._constant_query(str(sql), "run_query")

    def statement(
        self,
        name: str | None = None,
        fetch_result: bool = False,
        auto_begin: bool = True,
        language: str = "sql",
        caller: Callable[[], Any] | None = None,
    ) -> str:
        feature = "statement blocks ({% call statement(...) %})"
        if language != "sql":
            raise Unsupported(f"{feature} in {language}")
        table = self._constant_query(str(caller()) if caller else "", feature)
        if name is not None:
            self._results[name] = {
                "response": types.SimpleNamespace(code="SELECT", rows_affected=len(table)),
                "data": [list(row) for row in table.rows],
                "table": table,
            }
        return ""

    def load_result(self, name: str) -> Any:
        return self._results.get(name)

    def _constant_query(self, sql: str, feature: str) -> Table:
        """Run a query that reads no table (see :class:`ConstantQueries`); one that reads the
        warehouse is :class:`Unsupported`, naming what it reads."""
        read = relations_read(sql, self._dialect)
        if read is None:
            statement = " ".join(sql.split())[:80]
            raise Unsupported(f"{feature} running `{statement}`")
        if read:
            raise Unsupported(f"{feature} reading {', '.join(read)}")
        if self._constants is None:
            self._constants = ConstantQueries(self._dialect)
        try:
            return self._constants.run(sql)
        except Exception as error:  # the query is the project's: say which one failed
            raise CompilerError(f"{feature}: the query failed: {error}") from None

    def close(self) -> None:
        """Release the in-memory database of constant queries."""
        if self._constants is not None:
            self._constants.close()
