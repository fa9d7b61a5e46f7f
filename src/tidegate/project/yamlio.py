"""YAML loading that remembers the line of every mapping key and list item.

Errors in project files must name the file and the line; PyYAML forgets positions once it has
built Python objects, so this loader keeps them on dict and list subclasses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tidegate.errors import ConfigError, InvalidYaml
from tidegate.project.files import read_text


class LineDict(dict[str, Any]):
    """A mapping that knows its own line and the line of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence that knows its own line and the line of each of its items."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, in C when libyaml is there (several times faster); marks are the same."""


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        # YAML 1.1 reads a key such as `on:` (grants in infra files) or `yes:` as a boolean; a key
        # is a name, so keep the text as written.
        name = key_node.value if isinstance(key, bool) else str(key)
        if name in result.key_lines:
            # PyYAML keeps the last value silently; in a config file that hides a mistake.
            raise _DuplicateKey(
                None,
                None,
                f"duplicate key {name!r} (first on line {result.key_lines[name]})",
                key_node.start_mark,
            )
        result[name] = loader.construct_object(value_node, deep=True)
        result.key_lines[name] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, path: str | Path) -> Any:
    """Parse YAML text; syntax errors become an InvalidYaml (a ConfigError) with the file and line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = error.problem or str(error)
        duplicate = isinstance(error, _DuplicateKey)
        raise InvalidYaml(f"invalid YAML: {problem}", duplicate_key=duplicate, path=path, line=line) from None
    except yaml.YAMLError as error:
        raise InvalidYaml(f"invalid YAML: {error}", path=path) from None


FORMAT = 1
"""The version of what the constructors above build: part of `CACHE_STAMP`, so a change to them
must change it."""
CACHE_STAMP = f"{FORMAT}:{yaml.__version__}:{_Loader.__mro__[1].__name__}"
"""What data cached with `to_cache` depends on (with the Python version, which `marshal` does)."""

_SCALARS = (str, int, float, bool, type(None))


def to_cache(data: Any) -> tuple[Any] | None:
    """`data` (what `load_yaml_text` returns) as plain tuples and scalars that `marshal` stores,
    in a 1-tuple; None when that would not give back the same data: a value of another type
    (a date, a set), or a mapping or list reached twice (a YAML alias: the loader would see one
    object where the cache gives two)."""
    seen: set[int] = set()

    def encode(value: Any) -> Any:
        kind = type(value)
        if kind in _SCALARS:
            return value
        if (kind is not LineDict and kind is not LineList) or id(value) in seen:
            raise _NotPlain
        seen.add(id(value))
        if kind is LineDict:
            keys = tuple(value)
            lines = tuple(value.key_lines[key] for key in keys)
            return (0, value.line, keys, lines, tuple(encode(item) for item in value.values()))
        return (1, value.line, tuple(value.item_lines), tuple(encode(item) for item in value))

    try:
        return (encode(data),)
    except _NotPlain:
        return None


def from_cache(encoded: Any) -> Any:
    """The data `to_cache` encoded, built anew (each load gets its own objects)."""
    if type(encoded) is not tuple:
        return encoded
    if encoded[0] == 0:
        _, line, keys, lines, values = encoded
        mapping = LineDict(
            zip(keys, [v if type(v) is not tuple else from_cache(v) for v in values], strict=True)
        )
        mapping.line, mapping.key_lines = line, dict(zip(keys, lines, strict=True))
        return mapping
    _, line, lines, values = encoded
    sequence = LineList([v if type(v) is not tuple else from_cache(v) for v in values])
    sequence.line, sequence.item_lines = line, list(lines)
    return sequence


class _NotPlain(Exception):
    pass


def load_yaml(path: Path) -> Any:
    return load_yaml_text(read_text(path, error=ConfigError), path)


def line_at(data: Any, location: tuple[str | int, ...]) -> int | None:
    """The line of the deepest node along `location` (a pydantic error `loc`), if known."""
    line: int | None = getattr(data, "line", None)
    node = data
    for key in location:
        if not _contains(node, key):
            break
        line, node = node.line_of(key), node[key]
    return line


def _contains(node: Any, key: str | int) -> bool:
    if isinstance(node, LineDict):
        return isinstance(key, str) and key in node
    return isinstance(node, LineList) and isinstance(key, int) and 0 <= key < len(node)
