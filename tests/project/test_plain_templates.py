"""Plain templates (text and one-line calls of ref, source, config, var...) render without Jinja,
to exactly what Jinja renders: the same text, refs with their lines, sources, configs, errors."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidegate.errors import ProjectError
from tidegate.project import plain
from tidegate.project.jinja import Renderer

SOURCES = {("raw", "events"): "landing.events"}
VARIABLES = {"limit": 10, "names": ["a", "b"], "flag": True}


def renderer(macros: dict[str, str] | None = None) -> Renderer:
    return Renderer(macros or {}, VARIABLES, SOURCES)


def outcome(render: Any, text: str) -> Any:
    """What rendering gives: the text, refs, sources and config, or the error."""
    try:
        rendered = render(text, "models/m.sql")
    except ProjectError as error:
        return ("error", error.message, error.path, error.line)
    config = {key: (type(value), repr(value)) for key, value in rendered.config.items()}  # Undefined too
    return (rendered.text, rendered.refs, rendered.sources, config, rendered.uses_this_names)


def assert_like_jinja(text: str, macros: dict[str, str] | None = None) -> None:
    both = renderer(macros)
    plain_render = lambda text, path: both.render(text, path, mask=False)  # noqa: E731  (Jinja's text is not masked)
    assert outcome(plain_render, text) == outcome(both._render_jinja, text)


PLAIN = [
    "select 1",
    "",
    "{{ config(materialized='table') }}\nselect * from {{ ref('a') }}\n",
    "select *\nfrom {{ ref('a') }} join {{ ref('pkg', 'b') }} on true\n\n  join {{ref(\"c\")}}",
    "{{ config(materialized='incremental', unique_key=['id', 'day'], enabled=true, full_refresh=None) }}",
    "{{ config(tags='nightly', meta_flag=False, threads=4, weight=0) }} select 1",
    "select * from {{ source('raw', 'events') }} limit {{ var('limit') }}",
    "select {{ var('missing', 3) }}, '{{ var('names') }}', {{ var('flag') }}",
    "select '{{ env_var('TIDEGATE_PLAIN_TEST', 'fallback') }}'",
    "grant select on {{ this }} to reporter",
    "{{- config(materialized='view') -}}\n\n  select 1  \n  {{- ref('a') }}\t\n{{ ref('b') -}}\n\n x",
    "select 'é ü 漢字 😀' as s, {{ ref('ünï') }}",
    "select '{{ ref('é') }}' as s, {{ var('x', 'ñ') }}",
    "select '}}' as closing, '{' as brace, {{ ref('a') }}",
    "{{ ref ( 'a' ) }}",
]

NOT_PLAIN = [
    "{% if is_incremental() %} where x > 1 {% endif %}",
    "{# a comment #} select 1",
    "select {{ ref('a') | upper }}",
    "select {{ 1 + 1 }}",
    "select {{ ref('a').schema }}",
    "select {{ ref(\n'a') }}",
    "select {{ var('x', 1.5) }}",
    "select {{ var('x', -1) }}",
    "select {{ var('x', 012) }}",
    "select {{ config(a={'b': 1}) }}",
    "select {{ ref('a',) }}",
    "select {{ config(a=[1,]) }}",
    "select {{ var(name) }}",
    "select {{ var('a\\'b') }}",
    "select {{ config(a=1, 'b') }}",
    "select {{ config(class=1) }}",
    "select {{+ ref('a') }}",
    "select 1\r\nfrom {{ ref('a') }}",
    "select {{{ ref('a') }}",
    "select {{ ref('a') - }}",
]

FALLING_BACK = [  # plain, but rendered by Jinja in the end: an error, or not tidegate's function
    "select * from {{ ref('a', 'b', 'c') }}",
    "select * from\n\n{{ source('raw', 'clicks') }}",
    "select {{ var('undefined') }}",
    "select {{ config('positional') }}",
    "select {{ ref(version=2) }}",
    "select {{ env_var('TIDEGATE_PLAIN_TEST_UNSET') }}",
    "select {{ log('hello') }}, {{ is_incremental() }}",
    "select {{ undefined_function('a') }}",
    "select {{ ref }}",
    "select {{ config }}",
    "select {{ nothing }}",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_templates_render_as_jinja_renders_them(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEGATE_PLAIN_TEST", "from the environment")
    assert plain.split(text) is not None
    assert_like_jinja(text)


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_other_templates_are_left_to_jinja(text: str) -> None:
    assert plain.split(text) is None
    assert_like_jinja(text)


def test_a_keyword_given_twice_is_left_to_jinja() -> None:
    assert plain.split("select {{ config(a=1, a=2) }}") is None  # Jinja fails to compile it


@pytest.mark.parametrize("text", FALLING_BACK)
def test_errors_and_other_functions_are_jinja_s(text: str) -> None:
    os.environ.pop("TIDEGATE_PLAIN_TEST_UNSET", None)
    assert_like_jinja(text)


def test_refs_keep_the_line_of_their_call() -> None:
    rendered = renderer().render("select\n  {{ ref('a') }}\n\n,{{ ref('b') }} {{ ref('a') }}", "m.sql")
    assert rendered.refs == [("a", 2), ("b", 4), ("a", 4)]


def test_a_project_macro_named_like_a_function_replaces_it() -> None:
    macros = {"macros/ref.sql": "{% macro ref(name) %}my_{{ name }}{% endmacro %}"}
    text = "select * from {{ ref('a') }}"
    assert renderer(macros).render(text, "m.sql").text == "select * from my_a"
    assert_like_jinja(text, macros)


# property: any template built from plain pieces and near misses renders as Jinja renders it

_STRINGS = st.text(alphabet="ab_'\" é{}()%#-,.", max_size=6).map(lambda s: s.replace("\\", ""))
_LITERALS = st.one_of(
    _STRINGS.map(lambda s: repr(s) if "'" not in s or '"' not in s else "'x'"),
    st.integers(min_value=-2, max_value=1000).map(str),
    st.sampled_from(["True", "false", "None", "none", "1.5", "0x1", "01", "name", "[]", "['a', 1]", "[1,]"]),
)
_CALLS = st.builds(
    lambda name, args, kwargs, before, after, inner: (
        "{{"
        + before
        + inner
        + name
        + inner
        + "("
        + ", ".join([*args, *(f"{k}={v}" for k, v in kwargs)])
        + ")"
        + inner
        + after
        + "}}"
    ),
    st.sampled_from(["ref", "source", "config", "var", "env_var", "log", "this", "nope"]),
    st.lists(_LITERALS, max_size=3),
    st.lists(
        st.tuples(st.sampled_from(["materialized", "tags", "a", "b", "if"]), _LITERALS),
        max_size=2,
        unique_by=lambda item: item[0],  # Jinja does not compile a keyword given twice
    ),
    st.sampled_from(["", "-", "+"]),
    st.sampled_from(["", "-"]),
    st.sampled_from([" ", "", "\t", "  "]),
)
_TEXT = st.text(alphabet="select *\n\t {}%#'é", max_size=12)
_TEMPLATES = st.lists(st.one_of(_TEXT, _CALLS, st.just("{{ this }}")), max_size=6).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEMPLATES)
def test_any_template_renders_as_jinja_renders_it(text: str) -> None:
    assert_like_jinja(text)
