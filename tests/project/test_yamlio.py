"""YAML with line numbers: every key and list item remembers where it was written."""

from __future__ import annotations

import marshal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidegate.errors import ConfigError, InvalidYaml
from tidegate.project.yamlio import LineDict, LineList, from_cache, line_at, load_yaml_text, to_cache

TEXT = """\
name: shop
environments:
  prod:
    path: w.duckdb
  dev: {path: d.duckdb}
promotion:
  - dev
  - prod
"""


def test_keys_and_items_know_their_lines() -> None:
    data = load_yaml_text(TEXT, "tidegate.yml")
    assert isinstance(data, LineDict) and isinstance(data["promotion"], LineList)
    assert line_at(data, ("environments", "prod", "path")) == 4
    assert line_at(data, ("environments", "dev", "path")) == 5
    assert line_at(data, ("promotion", 1)) == 8


def test_unknown_locations_fall_back_to_the_deepest_known_node() -> None:
    data = load_yaml_text(TEXT, "tidegate.yml")
    assert line_at(data, ("environments", "staging", "path")) == 2
    assert line_at(data, ("promotion", 7)) == 6
    assert line_at(data, ()) == 1


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("models:\n  - name: x\n   bad: [\n", 3),
        ("a: 1\nb: [1, 2\nc: 3\n", 3),
        ("a: 1\n\tb: 2\n", 2),
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", 4),
        ("? [a, b]\n: 1\n", 1),
    ],
)
def test_invalid_yaml_names_file_and_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml_text(text, "models/schema.yml")
    assert info.value.path == "models/schema.yml"
    assert info.value.line == line
    assert info.value.message.startswith("invalid YAML")


@pytest.mark.parametrize(
    ("text", "duplicate"),
    [
        ("a:\n  b: 1\n  b: 2\n", True),
        ("a: 1\nb: [1, 2\n", False),
    ],
)
def test_a_duplicate_key_is_told_apart_from_other_invalid_yaml(text: str, duplicate: bool) -> None:
    with pytest.raises(InvalidYaml) as info:
        load_yaml_text(text, "models/schema.yml")
    assert info.value.duplicate_key is duplicate


def test_keys_that_yaml_1_1_reads_as_booleans_stay_names() -> None:
    """`on: {schema: analytics}` in a grant must not become the key True."""
    data = load_yaml_text(
        "grants:\n  - to: analyst\n    on: {schema: analytics}\n    yes: 1\n", "infra/a.yml"
    )
    assert data["grants"][0] == {"to": "analyst", "on": {"schema": "analytics"}, "yes": 1}
    assert line_at(data, ("grants", 0, "on")) == 3


def test_anchors_and_merge_keys_still_work() -> None:
    data = load_yaml_text("base: &b {threads: 2}\nprod:\n  <<: *b\n  path: p\n", "x.yml")
    assert data["prod"] == {"threads": 2, "path": "p"}


# Generated nested YAML: mappings of identifiers to scalars, mappings or lists (of scalars or
# mappings), written in block style while recording the line of every key and item.
YAML_WORDS = {"y", "n", "on", "off", "yes", "no", "true", "false", "null"}  # not strings in YAML 1.1
keys = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda key: key not in YAML_WORDS)
scalars = st.integers(-50, 50)
documents = st.recursive(
    scalars,
    lambda children: (
        st.dictionaries(keys, children, min_size=1, max_size=4)
        | st.lists(st.dictionaries(keys, children, min_size=1, max_size=3) | scalars, min_size=1, max_size=4)
    ),
    max_leaves=25,
).filter(lambda value: isinstance(value, dict))


def emit(
    value: Any, indent: int, path: tuple[Any, ...], lines: list[str], where: dict[tuple[Any, ...], int]
) -> None:
    """Write `value` in block style; `where` gets the 1-based line of every key and list item."""
    pad = " " * indent
    if isinstance(value, dict):
        for key, child in value.items():
            where[(*path, key)] = len(lines) + 1
            if isinstance(child, dict | list):
                lines.append(f"{pad}{key}:")
                emit(child, indent + 2, (*path, key), lines, where)
            else:
                lines.append(f"{pad}{key}: {child}")
    else:
        for index, item in enumerate(value):
            where[(*path, index)] = len(lines) + 1
            if isinstance(item, dict):
                # The first key shares the dash's line; the others follow, indented under it.
                first, *rest = item.items()
                lines.append(f"{pad}- {first[0]}:")
                emit_item(first, rest, indent, (*path, index), lines, where)
            else:
                lines.append(f"{pad}- {item}")


def emit_item(
    first: tuple[str, Any],
    rest: list[tuple[str, Any]],
    indent: int,
    path: tuple[Any, ...],
    lines: list[str],
    where: dict[tuple[Any, ...], int],
) -> None:
    key, child = first
    where[(*path, key)] = len(lines)
    if isinstance(child, dict | list):
        emit(child, indent + 4, (*path, key), lines, where)
    else:
        lines[-1] += f" {child}"
    emit(dict(rest), indent + 2, path, lines, where)


@settings(max_examples=50, deadline=None)
@given(documents)
def test_line_at_reports_the_line_of_every_generated_key(document: dict[str, Any]) -> None:
    lines: list[str] = []
    where: dict[tuple[Any, ...], int] = {}
    emit(document, 0, (), lines, where)
    text = "\n".join(lines) + "\n"
    data = load_yaml_text(text, "generated.yml")
    assert data == document
    for location, line in where.items():
        assert line_at(data, location) == line, (location, text)


# The cache of loaded YAML: what it gives back is what loading gives, lines included.


def same(loaded: Any, cached: Any) -> None:
    """Equal data, types and lines, and no object shared between the two."""
    assert type(cached) is type(loaded) and cached == loaded
    if isinstance(loaded, LineDict):
        assert cached is not loaded and (cached.line, cached.key_lines) == (loaded.line, loaded.key_lines)
        for key in loaded:
            same(loaded[key], cached[key])
    elif isinstance(loaded, LineList):
        assert cached is not loaded and (cached.line, cached.item_lines) == (loaded.line, loaded.item_lines)
        for item, cached_item in zip(loaded, cached, strict=True):
            same(item, cached_item)


def cached(data: Any) -> Any:
    encoded = to_cache(data)
    assert encoded is not None
    return from_cache(marshal.loads(marshal.dumps(encoded))[0])


@pytest.mark.parametrize(
    "text",
    [
        TEXT,
        "",
        "just a scalar\n",
        "- 1\n- [2.5, .inf, null, true, 'x', {a: ~}]\n- {}\n- []\n",
        "models:\n  - name: m\n    config: {tags: [a, b], meta: {owner: ana}}\n    description: >\n      folded\n",
        "on: 1\nyes: {no: off}\n'quoted': \"é ü 漢字\"\n",
    ],
)
def test_cached_yaml_is_the_yaml_loaded(text: str) -> None:
    loaded = load_yaml_text(text, "x.yml")
    same(loaded, cached(loaded))


@settings(max_examples=50, deadline=None)
@given(documents)
def test_cached_generated_yaml_is_the_yaml_loaded(document: dict[str, Any]) -> None:
    lines: list[str] = []
    emit(document, 0, (), lines, {})
    loaded = load_yaml_text("\n".join(lines) + "\n", "generated.yml")
    same(loaded, cached(loaded))


@pytest.mark.parametrize(
    "text",
    [
        "base: &b {threads: 2}\nprod: *b\n",  # one mapping in two places: the loader may rely on it
        "when: 2024-01-01\n",  # a date
        "tags: !!set {a, b}\n",
    ],
)
def test_yaml_the_cache_cannot_give_back_the_same_is_not_cached(text: str) -> None:
    assert to_cache(load_yaml_text(text, "x.yml")) is None
