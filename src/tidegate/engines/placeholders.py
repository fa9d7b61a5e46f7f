"""`?` placeholders: where they are in a statement, outside strings, identifiers and comments.

tidegate's own statements (the state store) use `?`; each engine binds them its own way
(psycopg's `%s`, literals for Spark), from the same scan.
"""

from __future__ import annotations

import re

_DOLLAR_TAG = re.compile(r"\$[A-Za-z_0-9]*\$")


def split_on_placeholders(
    sql: str, *, quotes: str = "'\"", backslash_escapes: bool = False, dollar_quotes: bool = False
) -> list[str]:
    """The text between `?` placeholders: one more piece than there are placeholders.

    `quotes` are the characters that open strings and quoted identifiers (a doubled one inside
    stands for itself); `backslash_escapes` for engines where `\\'` does not end a string
    (Spark); `dollar_quotes` for PostgreSQL's `$tag$ ... $tag$` bodies.
    """
    pieces: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char, end = sql[i], i + 1
        if char in quotes:
            end = _end_of_quoted(sql, i, backslash_escapes and char != "`")
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            end = n if newline < 0 else newline
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            end = n if close < 0 else close + 2
        elif dollar_quotes and char == "$" and not (i and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            tag = _DOLLAR_TAG.match(sql, i)
            if tag:
                close = sql.find(tag.group(0), tag.end())
                end = n if close < 0 else close + len(tag.group(0))
        elif char == "?":
            pieces.append("".join(current))
            current = []
            i += 1
            continue
        current.append(sql[i:end])
        i = end
    pieces.append("".join(current))
    return pieces


def _end_of_quoted(sql: str, start: int, backslash_escapes: bool) -> int:
    quote, end, n = sql[start], start + 1, len(sql)
    while end < n:
        if backslash_escapes and sql[end] == "\\":
            end += 2
        elif sql[end] == quote:
            if sql.startswith(quote * 2, end):
                end += 2
                continue
            return end + 1
        else:
            end += 1
    return n
