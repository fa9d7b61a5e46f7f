"""dbt's model contracts (`contract: {enforced: true}`), enforced where a model is built.

As dbt does, before anything is built the query's columns are compared with the declared ones,
both as the engine describes them (a declared type through `CAST(NULL AS type)`), so `int` and
`integer` agree where the engine says they are the same type: names must match exactly, and
types too. A table is then created with the declared columns, in their order, and the
constraints the engine enforces (`not_null`, `unique`, `primary_key`, `check`, `custom`), and
filled by column name; a view is only checked. `foreign_key` constraints are not created: a
snapshot table of a virtual environment cannot reference another one's. Incremental runs and
refreshes write the declared columns in order too (`enforce`).
"""

from __future__ import annotations

from tidegate.engines.base import EngineAdapter
from tidegate.errors import InvalidSQL
from tidegate.plan.plan import ContractSpec
from tidegate.project.datatypes import column_type
from tidegate.project.model import Constraint, Contract

_SUBQUERY = "model_subq"


def contract_spec(engine: EngineAdapter, contract: Contract, dialect: str) -> ContractSpec:
    """What the build needs of a contract, in the engine's terms: declared types are written in
    the project's `dialect`, as its models are."""
    ddl = engine.spec.constraints
    types = [column_type(str(column.data_type), dialect, engine.dialect) for column in contract.columns]
    definitions = []
    for column, kind in zip(contract.columns, types, strict=True):
        parts = [engine.quote(column.name), kind]
        if ddl:
            parts += [_column_constraint(c) for c in column.constraints if c.type != "foreign_key"]
        definitions.append(" ".join(parts))
    table = [_table_constraint(engine, c) for c in contract.constraints if c.type != "foreign_key"]
    return ContractSpec(
        columns=[(column.name, kind) for column, kind in zip(contract.columns, types, strict=True)],
        definitions=definitions,
        table_constraints=table if ddl else [],
    )


def _column_constraint(constraint: Constraint) -> str:
    return {
        "not_null": "NOT NULL",
        "unique": "UNIQUE",
        "primary_key": "PRIMARY KEY",
        "check": f"CHECK ({constraint.expression})",
    }.get(constraint.type, str(constraint.expression))


def _table_constraint(engine: EngineAdapter, constraint: Constraint) -> str:
    columns = ", ".join(engine.quote(name) for name in constraint.columns)
    return {
        "not_null": "",  # dbt ignores a model-level not_null; so does tidegate
        "unique": f"UNIQUE ({columns})",
        "primary_key": f"PRIMARY KEY ({columns})",
        "check": f"CHECK ({constraint.expression})",
    }.get(constraint.type, str(constraint.expression))


def enforce(engine: EngineAdapter, spec: ContractSpec, query: str) -> str:
    """`query` with the declared columns in their order, once its columns match the contract;
    an InvalidSQL listing each mismatch as dbt does otherwise."""
    declared = engine.query_columns(
        "SELECT " + ", ".join(f"CAST(NULL AS {kind}) AS {engine.quote(name)}" for name, kind in spec.columns)
    )
    mismatches = _mismatches(engine.query_columns(query), declared)
    if mismatches:
        rows = "\n".join(f"  {name}: {reason}" for name, reason in mismatches)
        raise InvalidSQL(
            "the model's enforced contract failed: the names, data types and number of its "
            f"columns must match the contract's\n{rows}"
        )
    listed = ", ".join(engine.quote(name) for name, _ in spec.columns)
    return f"SELECT {listed} FROM ({query}) AS {_SUBQUERY}"


def _mismatches(found: list[tuple[str, str]], declared: list[tuple[str, str]]) -> list[tuple[str, str]]:
    kinds = dict(declared)
    problems = []
    for name, kind in found:
        if name not in kinds:
            problems.append((name, f"{kind} in the query, missing in the contract"))
        elif kinds[name] != kind:
            problems.append((name, f"data type mismatch: {kind} in the query, {kinds[name]} in the contract"))
    returned = {name for name, _ in found}
    problems += [
        (name, f"{kind} in the contract, missing in the query")
        for name, kind in declared
        if name not in returned
    ]
    return problems


def create_table(engine: EngineAdapter, relation: str, spec: ContractSpec, query: str) -> None:
    """The contracted table: its declared columns and constraints, then the query's rows."""
    ordered = enforce(engine, spec, query)
    if not spec.definitions or not engine.spec.constraints:
        engine.replace_table_as(relation, ordered)
        return
    engine.drop_table(relation)
    definitions = ", ".join([*spec.definitions, *filter(None, spec.table_constraints)])
    engine.execute(f"CREATE TABLE {relation} ({definitions})")
    listed = ", ".join(engine.quote(name) for name, _ in spec.columns)
    engine.execute(f"INSERT INTO {relation} ({listed}) {ordered}")
