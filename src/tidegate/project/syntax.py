"""SQL syntax errors in the user's terms: what is wrong, near which word, at which line of the
file, never sqlglot's class names (`Required keyword: 'this' missing for <class ...Where>`) or
token dumps (`<Token token_type: ...>`).

A model's SQL is rendered by Jinja before sqlglot reads it, and a `{{ config(...) }}` over
several lines or a macro's output moves the lines below it: the rendered line is found again in
the file by comparing the two texts line by line.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot.errors import SqlglotError

_CLASS = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")
_TOKEN = re.compile(r"\s*(?:but )?got <Token [^>]*?text: ([^,]*),[^>]*>")
_MISSING = {
    "Where": "a condition after WHERE",
    "Having": "a condition after HAVING",
    "Qualify": "a condition after QUALIFY",
    "Order": "what to sort by after ORDER BY",
    "Group": "what to group by after GROUP BY",
    "Limit": "a number after LIMIT",
    "Offset": "a number after OFFSET",
    "Union": "a query after UNION",
    "Intersect": "a query after INTERSECT",
    "Except": "a query after EXCEPT",
    "Join": "a table after JOIN",
    "Between": "both bounds of BETWEEN ... AND ...",
}
"""What a clause sqlglot found incomplete lacks (any other lacks an expression)."""
_SAID = {
    "Invalid expression / Unexpected token": "it does not belong here (a missing comma, operator or keyword before it?)",
    "Expecting )": "a parenthesis opened before it is not closed",
    "Expected table name": "expected a table name",
    "Expected END after CASE": "CASE needs an END",
    "Expected TYPE after CAST": "expected a type: CAST(value AS type)",
    "Expected AS after CAST": "expected AS: CAST(value AS type)",
    "Expected type": "expected a type",
    "Failed to parse any statement following CTE": "expected a query after the WITH clause",
}
_UNCLOSED = {
    "'": "a string",
    '"': "a quoted name",
    "`": "a quoted name",
    "/": "a comment",
    "$": "a $$ string",
}


def syntax_error(
    error: SqlglotError, sql: str, dialect: str, source: str | None = None
) -> tuple[str, int | None]:
    """The message and the line of a syntax error sqlglot raised reading `sql`; the line is the
    one of `source` (the template `sql` was rendered from) when it is given."""
    from sqlglot.errors import ParseError, TokenError

    if isinstance(error, ParseError) and error.errors:
        first = error.errors[0]
        message, line = _parse_error(first), first.get("line")
    elif isinstance(error, TokenError):
        message, line = _token_error(sql, dialect)
    else:
        message, line = (
            ": " + _plain(str(error).splitlines()[0] if str(error) else "cannot read the SQL"),
            None,
        )
    if source is not None and line is not None:
        line = source_line(source, sql, line)
    return f"SQL syntax error{message}", line


def _parse_error(entry: dict[str, object]) -> str:
    description = str(entry.get("description") or "")
    near = str(entry.get("highlight") or "").strip()
    at_end = not str(entry.get("end_context") or "").strip()
    missing = re.match(r"Required keyword: '\w+' missing for " + _CLASS.pattern, description)
    if missing:
        what = "expected " + (_MISSING.get(missing.group(1)) or f"an expression after {near!r}")
    else:
        what = next(
            (said for start, said in _SAID.items() if description.startswith(start)), _plain(description)
        )
    if at_end and what.startswith("expected"):
        what += ", but the query ends there"
    return f" near {near!r}: {what}" if near else f": {what}"


def _plain(description: str) -> str:
    """sqlglot's own words without its internals: a class by its name, a token by its text."""
    return _CLASS.sub(r"\1", _TOKEN.sub(lambda m: f" (found {m.group(1)!r})", description))


def _token_error(sql: str, dialect: str) -> tuple[str, int]:
    """Where the tokenizer stopped: right after the last token it read, the start of what it
    could not read (a string, quoted name or comment that is never closed)."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import TokenError

    tokenizer = Dialect.get_or_raise(dialect).tokenizer()
    with contextlib.suppress(TokenError):  # it failed already: what matters is where it stopped
        tokenizer.tokenize(sql)
    tokens = tokenizer.tokens
    position = tokens[-1].end + 1 if tokens else 0
    position += len(sql[position:]) - len(sql[position:].lstrip())
    line = sql.count("\n", 0, position) + 1
    near = sql[position : position + 20].split("\n")[0]
    kind = _UNCLOSED.get(near[:1]) if near[:1] != "/" or near.startswith("/*") else None
    return f" near {near!r}: " + (f"{kind} opened here is never closed" if kind else "cannot read this"), line


def source_line(source: str, rendered: str, line: int) -> int:
    """The line of `source` that `line` of `rendered` comes from: the same text where the two
    agree; where they differ, counted back from the next lines that agree (a tag over several
    lines renders to fewer), but never before the first differing line (a macro's call, which
    renders to more)."""
    source_lines, rendered_lines = source.split("\n"), rendered.split("\n")
    index = line - 1
    matcher = difflib.SequenceMatcher(None, source_lines, rendered_lines, autojunk=False)
    for _, source_start, source_end, start, end in matcher.get_opcodes():
        if start <= index < end:
            found = max(source_start, source_end - (end - index))
            return min(found, len(source_lines) - 1) + 1
    return line
