"""The Jinja classes that make Jinja behave as dbt's: macros that `return()` a value, dbt's own
macros looked up last, and reading every name a file of macros defines."""

from __future__ import annotations

import collections
from collections.abc import Callable, MutableMapping
from typing import Any

import jinja2

from tidegate.project.dbt_context import Unsupported


class Return(Exception):
    """`{{ return(value) }}` in a macro: unwinds to the macro call, which returns `value`."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


def dbt_return(value: Any) -> None:
    """dbt's `return()`."""
    raise Return(value)


class ReturningMacro(jinja2.runtime.Macro):
    """A macro that returns the value of dbt's `return()` instead of its rendered text."""

    def _invoke(self, arguments: list[Any], autoescape: bool) -> Any:
        try:
            return super()._invoke(arguments, autoescape)
        except Return as returned:
            return returned.value


class ReturningTemplate(jinja2.Template):
    """Templates whose macros are :class:`ReturningMacro`: the compiled code looks `Macro` up
    in its module namespace, which is filled here before anything runs."""

    @classmethod
    def _from_namespace(
        cls, environment: jinja2.Environment, namespace: MutableMapping[str, Any], globals: Any
    ) -> jinja2.Template:
        namespace["Macro"] = ReturningMacro
        return super()._from_namespace(environment, namespace, globals)


class BuiltinsLastContext(jinja2.runtime.Context):
    """A template context in which dbt's own macros (`dateadd`, `generate_schema_name`...) are
    global names looked up last, after the project's: they are not in the environment's globals,
    which every render copies, so a project pays for the few it calls."""

    def resolve_or_missing(self, key: str) -> Any:
        if key in self.vars:
            return self.vars[key]
        if key in self.parent:
            return self.parent[key]
        return getattr(self.environment, "dbt_builtins", _NO_BUILTINS).get(key, jinja2.utils.missing)


_NO_BUILTINS: dict[str, Any] = {}


def refuse(feature: str) -> Callable[..., Any]:
    """A function of dbt's context that is :class:`Unsupported` whenever it is called."""

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise Unsupported(feature)

    return refused


def defined_names(template: jinja2.Template) -> dict[str, Any]:
    """Every name a file of macros defines, `_private` ones included: Jinja's modules leave
    those out, but dbt's packages call them (`dbt_utils._is_relation`)."""
    # The file's context looks names up in the template's globals as they are when a macro
    # runs (not a copy made now): a macro may call one that a later file or package defines.
    names: Any = template.globals
    if isinstance(names, collections.ChainMap) and all(type(m) is dict and not m for m in names.maps[:-1]):
        names = names.maps[-1]  # the environment's globals alone: a dict is faster to look up
    context = template.new_context(names, shared=True)
    for _ in template.root_render_func(context):
        pass
    return dict(context.vars)
