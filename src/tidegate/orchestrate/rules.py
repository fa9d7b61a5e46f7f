"""Static checks of Airflow DAG files, on the syntax tree, before Airflow imports them.

What the scheduler pays for on every parse, and what makes runs unreproducible: work at import
time (Variable.get, connections, database and network calls at module level, class bodies
included), a start_date computed from the current time, and DAGs without an owner, retries or
tags. Each rule can be turned off in `orchestration: airflow: rules:`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tidegate.project.shipping import DagRules

_IMPORT_TIME_CALLS = {
    "Variable.get": "reads the metadata database",
    "Variable.get_variable_from_secrets": "reads a secrets backend",
    "BaseHook.get_connection": "reads a connection",
    "Connection.get_connection_from_secrets": "reads a connection",
    "Connection.get": "reads a connection",
    "requests.get": "calls the network",
    "requests.post": "calls the network",
    "requests.put": "calls the network",
    "requests.request": "calls the network",
    "httpx.get": "calls the network",
    "httpx.post": "calls the network",
    "urlopen": "calls the network",
    "urllib.request.urlopen": "calls the network",
    "socket.create_connection": "calls the network",
    "psycopg.connect": "connects to a database",
    "psycopg2.connect": "connects to a database",
    "pymysql.connect": "connects to a database",
    "sqlite3.connect": "connects to a database",
    "duckdb.connect": "connects to a database",
    "create_engine": "connects to a database",
    "sqlalchemy.create_engine": "connects to a database",
    "boto3.client": "calls a cloud API",
    "boto3.resource": "calls a cloud API",
}
_HOOK_CALLS = ("get_conn", "get_records", "get_first", "get_pandas_df", "run")
_NOW_CALLS = {
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "date.today",
    "pendulum.now",
    "pendulum.today",
    "timezone.utcnow",
    "days_ago",
    "dates.days_ago",
}


@dataclass(frozen=True)
class DagProblem:
    path: str
    line: int | None
    rule: str
    message: str


def check_source(source: str, path: str, rules: DagRules) -> list[DagProblem]:
    """The problems of one DAG file; a syntax error is the only one when the file has one."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        return [DagProblem(path, error.lineno, "syntax", f"syntax error: {error.msg}")]
    problems: list[DagProblem] = []
    if rules.import_time_work:
        problems += _import_time_work(tree, path)
    if rules.static_start_date:
        problems += _dynamic_start_dates(tree, path)
    problems += _dag_arguments(tree, path, rules)
    return sorted(problems, key=lambda p: (p.line or 0, p.rule))


def _name(node: ast.AST) -> str:
    """`a.b.c` for a name or an attribute chain; '' for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    if isinstance(node, ast.Call):  # SomeHook(...).get_records(...): the call's own name
        return _name(node.func) + "()"
    return ""


def _module_level_calls(tree: ast.Module) -> list[ast.Call]:
    """Calls Python runs when it imports the file: everywhere but inside function bodies and
    lambdas (class bodies and decorators run too)."""
    found: list[ast.Call] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for part in [*child.decorator_list, *child.args.defaults, *child.args.kw_defaults]:
                    if part is not None:
                        visit_node(part)
                continue
            if isinstance(child, ast.Lambda):
                continue
            visit_node(child)

    def visit_node(node: ast.AST) -> None:
        if isinstance(node, ast.Call):
            found.append(node)
        visit(node)

    visit(tree)
    return found


def _module_assignments(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level `name = value`s: a hook or a date kept in a name is used later."""
    return {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _import_time_work(tree: ast.Module, path: str) -> list[DagProblem]:
    problems = []
    hooks = {  # names bound to a hook at module level: `hook = PostgresHook(...)`
        name
        for name, value in _module_assignments(tree).items()
        if isinstance(value, ast.Call) and _name(value.func).endswith("Hook")
    }
    for call in _module_level_calls(tree):
        name = _name(call.func)
        what = _IMPORT_TIME_CALLS.get(name) or next(
            (why for known, why in _IMPORT_TIME_CALLS.items() if name.endswith("." + known)), None
        )
        base, _, method = name.rpartition(".")
        if what is None and method in _HOOK_CALLS and (("()" in base and "Hook" in base) or base in hooks):
            what = "queries through a hook"
        if what:
            problems.append(
                DagProblem(
                    path,
                    call.lineno,
                    "import_time_work",
                    f"{name.replace('()', '(...)')}(...) at import time {what} on every parse of the file: "
                    "move it into a task, or use a template such as {{ var.value.name }}",
                )
            )
    return problems


def _dynamic_start_dates(tree: ast.Module, path: str) -> list[DagProblem]:
    problems = []
    assigned = _module_assignments(tree)
    for node in ast.walk(tree):
        value = None
        if isinstance(node, ast.keyword) and node.arg == "start_date":
            value = node.value
        elif isinstance(node, ast.Dict):
            for key, item in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "start_date":
                    value = item
        if value is None:
            continue
        if isinstance(value, ast.Name) and value.id in assigned:  # START = pendulum.now()
            value = assigned[value.id]
        calls = [c for c in ast.walk(value) if isinstance(c, ast.Call) and _name(c.func) in _NOW_CALLS]
        if calls:
            problems.append(
                DagProblem(
                    path,
                    calls[0].lineno,
                    "static_start_date",
                    f"start_date computed from the current time ({_name(calls[0].func)}()): every parse "
                    "moves it, so runs are scheduled unpredictably; use a fixed date",
                )
            )
    return problems


def _dag_arguments(tree: ast.Module, path: str, rules: DagRules) -> list[DagProblem]:
    """owner and retries (in default_args) and tags of each DAG(...) or @dag(...)."""
    assigned = _module_assignments(tree)
    problems = []
    bare = [  # `@dag` without arguments: a DAG with none of them
        ast.Call(func=decorator, args=[], keywords=[], lineno=decorator.lineno, col_offset=0)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for decorator in node.decorator_list
        if not isinstance(decorator, ast.Call) and _name(decorator).rsplit(".", 1)[-1] == "dag"
    ]
    for call in [*[n for n in ast.walk(tree) if isinstance(n, ast.Call)], *bare]:
        if _name(call.func).rsplit(".", 1)[-1] not in ("DAG", "dag"):
            continue
        arguments = {k.arg: k.value for k in call.keywords if k.arg}
        if rules.tags and not _non_empty(arguments.get("tags")):
            problems.append(DagProblem(path, call.lineno, "tags", "the DAG has no tags"))
        defaults = arguments.get("default_args")
        if isinstance(defaults, ast.Name):
            defaults = assigned.get(defaults.id)
        if defaults is not None and not isinstance(defaults, ast.Dict):
            continue  # built some other way: not known statically
        keys = {k.value for k in defaults.keys if isinstance(k, ast.Constant)} if defaults else set()
        for rule in ("owner", "retries"):
            if getattr(rules, rule) and rule not in keys:
                problems.append(
                    DagProblem(path, call.lineno, rule, f"the DAG sets no {rule} in default_args")
                )
    return problems


def _non_empty(node: ast.AST | None) -> bool:
    if node is None:
        return False
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return bool(node.elts)
    return True  # a name or an expression: trust it
