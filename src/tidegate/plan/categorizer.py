"""Breaking or non-breaking: does a change to a query change the rows its children read?

A change is non-breaking when the new query is the old one with projections added at the top
level, and nothing else: same sources, filters, grouping and row count. A child that neither
selects `*` from the model nor names an added column then reads exactly the same data, so it
keeps its snapshot.
"""

from __future__ import annotations

from sqlglot import exp, parse_one
from sqlglot.errors import SqlglotError

from tidegate.plan.plan import BREAKING, Category
from tidegate.project.model import ref_placeholder


def categorize(old_sql: str | None, new_sql: str, dialect: str) -> Category:
    """Compare the normalized queries of two versions of a model."""
    if not old_sql:
        return BREAKING
    try:
        old, new = parse_one(old_sql, read=dialect), parse_one(new_sql, read=dialect)
    except SqlglotError:
        return BREAKING
    if not isinstance(old, exp.Select) or not isinstance(new, exp.Select):
        return BREAKING
    if old.args.get("distinct") or new.args.get("distinct"):
        return Category(True, reason="SELECT DISTINCT: added columns change the rows")
    old_projections = [projection.sql(dialect=dialect) for projection in old.expressions]
    kept, added = [], []
    position, inserted = 0, False
    for projection in new.expressions:
        text = projection.sql(dialect=dialect)
        if position < len(old_projections) and text == old_projections[position]:
            kept.append(projection)
            position += 1
        else:
            added.append(projection)
            inserted = inserted or position < len(old_projections)
    if position != len(old_projections) or not added:
        return BREAKING
    reason = _changes_rows(old, new, added, inserted=inserted)
    if reason:
        return Category(True, reason=reason)
    stripped = new.copy()
    stripped.set("expressions", [projection.copy() for projection in kept])
    if stripped.sql(dialect=dialect) != old.sql(dialect=dialect):
        return BREAKING
    return Category(
        breaking=False,
        added_columns=tuple(projection.alias_or_name for projection in added),
        reason=f"only adds column(s) {', '.join(p.alias_or_name for p in added)}",
    )


def _changes_rows(old: exp.Select, new: exp.Select, added: list[exp.Expr], *, inserted: bool) -> str:
    """Why added projections would change the rows even though the rest of the query is the same."""
    if any(projection.find(exp.Explode, exp.Unnest, exp.Posexplode) for projection in added):
        return "an added column changes the number of rows"
    if not _is_aggregation(old) and any(_aggregates(projection, new) for projection in added):
        return "an added aggregate collapses the rows"
    group, order = new.args.get("group"), new.args.get("order")
    if group is not None and group.args.get("all") and not all(_aggregates(p, new) for p in added):
        return "GROUP BY ALL also groups by the added column"
    ordered = [o.this for o in order.expressions] if order is not None else []
    if any(isinstance(key, exp.Var) and key.name.upper() == "ALL" for key in ordered) and (
        new.args.get("limit") or new.args.get("offset")
    ):
        return "ORDER BY ALL under a LIMIT also orders by the added column"
    positional = [*(group.expressions if group is not None else []), *ordered]
    if inserted and any(isinstance(key, exp.Literal) and not key.is_string for key in positional):
        return "positional GROUP BY or ORDER BY refers to the shifted columns"
    return ""


def _aggregates(projection: exp.Expr, select: exp.Select) -> bool:
    """Whether a projection aggregates the rows of `select` itself (not in a window or subquery)."""
    return any(
        node.find_ancestor(exp.Window, exp.Select) is select for node in projection.find_all(exp.AggFunc)
    )


def _is_aggregation(select: exp.Select) -> bool:
    return bool(
        select.args.get("group")
        or select.args.get("having")
        or any(_aggregates(projection, select) for projection in select.expressions)
    )


def reads_changed_columns(child_sql: str, parent: str, added: tuple[str, ...], dialect: str) -> bool:
    """Whether a child could see the parent's added columns: `*` over it, or a column of that name."""
    try:
        tree = parse_one(child_sql, read=dialect)
    except SqlglotError:
        return True
    placeholder = ref_placeholder(parent)
    if not any(table.name.lower() == placeholder for table in tree.find_all(exp.Table)):
        return True
    if any(_is_star(projection) for select in tree.find_all(exp.Select) for projection in select.expressions):
        return True
    names = {name.lower() for name in added}
    return any(column.name.lower() in names for column in tree.find_all(exp.Column))


def _is_star(projection: exp.Expression) -> bool:
    return isinstance(projection, exp.Star) or (
        isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
    )
