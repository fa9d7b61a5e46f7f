"""Templates plain enough to render without Jinja: text and one-line calls such as `{{ ref('x') }}`.

Compiling a template with Jinja (lexing, parsing, generating and compiling Python) costs many
times what rendering it does, and most models are SQL with a `config()` and a few `ref()`s. Such
a template is split here into its text and its calls, which the renderer makes itself. Anything
else is left to Jinja, so the output is always what Jinja gives: a block or a comment anywhere,
an expression that is not a call of a name, an expression over several lines, an argument that
is not a plain string, integer, boolean, None or a list of them, a `\\r`.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Any

_TAG = re.compile(r"\{\{(-?)[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*(?:\(([^(){}\\\n]*)\))?[ \t]*(-?)\}\}")
"""`{{ name(arguments) }}` or `{{ name }}`, with Jinja's whitespace control (`{{-`, `-}}`)."""
_LEADING_SPACE = re.compile(r"\A\s*")
"""What Jinja's `-}}` takes from the text after it."""
_TOKEN = re.compile(r"""[ \t]*(?:'([^'\\\n]*)'|"([^"\\\n]*)"|([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|(\S))""")
_STRING = re.compile(r"'([^'\\\n]*)'|\"([^\"\\\n]*)\"")
_STRINGS = re.compile(rf"[ \t]*(?:{_STRING.pattern})(?:[ \t]*,[ \t]*(?:{_STRING.pattern}))*[ \t]*")
"""Arguments that are all strings (no `=`: the strings hold no quote or newline)."""
_CONSTANTS = {"True": True, "true": True, "False": False, "false": False, "None": None, "none": None}
"""The names Jinja reads as constants."""
_NOT_PLAIN = object()


@dataclass(frozen=True)
class Call:
    """`{{ name(args, key=value) }}` at `line` of the template; `args` is None for `{{ name }}`."""

    name: str
    args: tuple[Any, ...] | None
    kwargs: dict[str, Any]
    line: int


def split(text: str) -> list[str | Call] | None:
    """The pieces of a plain template, in order; None when only Jinja can render it."""
    if "{%" in text or "{#" in text or "\r" in text:
        return None
    pieces: list[str | Call] = []
    position, line, strip_next = 0, 1, False
    while True:
        start = text.find("{{", position)
        data = text[position : len(text) if start < 0 else start]
        if strip_next:
            data = _LEADING_SPACE.sub("", data, count=1)
        if start < 0:
            pieces.append(data)
            return [piece for piece in pieces if piece != ""]
        tag = _TAG.match(text, start)
        if tag is None:
            return None
        strip_before, name, arguments, strip_after = tag.groups()
        pieces.append(data.rstrip() if strip_before else data)
        line += text.count("\n", position, start)
        args: tuple[Any, ...] | None = None
        kwargs: dict[str, Any] = {}
        if arguments is not None:
            parsed = _arguments(arguments)
            if parsed is None:
                return None
            args, kwargs = parsed
        pieces.append(Call(name, args, kwargs, line))
        position, strip_next = tag.end(), bool(strip_after)


def _arguments(text: str) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """Positional and keyword arguments of a call, when all are plain literals."""
    if _STRINGS.fullmatch(text):  # the common case, `ref('orders')`: strings only
        return tuple(single or double for single, double in _STRING.findall(text)), {}
    tokens = _tokens(text)
    if tokens is None:
        return None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    index = 0
    while index < len(tokens):
        if index:  # a comma between arguments, none after the last (Jinja allows one; rare)
            if tokens[index] != ("op", ",") or index + 1 == len(tokens):
                return None
            index += 1
        kind, value = tokens[index]
        if kind == "name" and index + 1 < len(tokens) and tokens[index + 1] == ("op", "="):
            if keyword.iskeyword(value) or value in kwargs:
                return None
            literal, index = _literal(tokens, index + 2)
            if literal is _NOT_PLAIN:
                return None
            kwargs[value] = literal
        else:
            literal, index = _literal(tokens, index)
            if literal is _NOT_PLAIN or kwargs:  # Jinja refuses a positional after a keyword
                return None
            args.append(literal)
    return tuple(args), kwargs


def _tokens(text: str) -> list[tuple[str, Any]] | None:
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only spaces are left
            break
        single, double, number, name, other = match.groups()
        if single is not None or double is not None:
            tokens.append(("str", single if single is not None else double))
        elif number is not None:
            if len(number) > 1 and number.startswith("0"):
                return None
            tokens.append(("int", int(number)))
        elif name is not None:
            tokens.append(("name", name))
        else:
            tokens.append(("op", other))
        position = match.end()
    return tokens


def _literal(tokens: list[tuple[str, Any]], index: int) -> tuple[Any, int]:
    """The literal at `index` and the index after it; `_NOT_PLAIN` if it is not plain."""
    if index >= len(tokens):
        return _NOT_PLAIN, index
    kind, value = tokens[index]
    if kind != "op" or value != "[":
        return _scalar(kind, value), index + 1
    items: list[Any] = []
    index += 1
    while index < len(tokens) and tokens[index] != ("op", "]"):
        if items:
            if tokens[index] != ("op", ","):
                return _NOT_PLAIN, index
            index += 1
            if index >= len(tokens) or tokens[index] == ("op", "]"):  # a trailing comma
                return _NOT_PLAIN, index
        item = _scalar(*tokens[index])
        if item is _NOT_PLAIN:
            return _NOT_PLAIN, index
        items.append(item)
        index += 1
    if index >= len(tokens):
        return _NOT_PLAIN, index
    return items, index + 1


def _scalar(kind: str, value: Any) -> Any:
    if kind in ("str", "int"):
        return value
    if kind == "name" and value in _CONSTANTS:
        return _CONSTANTS[value]
    return _NOT_PLAIN
