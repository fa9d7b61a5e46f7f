"""dbt's `this` and `model` (or `node`): the node being rendered, read from the render's frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidegate.project.dbt_context import Unsupported, is_internal
from tidegate.project.jinja.frames import Frames
from tidegate.project.model import THIS_PLACEHOLDER


class NodeFields:
    """dbt's `model` (and `node`): the node being rendered, as a few of its fields."""

    def __init__(self, frames: Frames) -> None:
        self._frames = frames

    def _fields(self) -> Mapping[str, Any]:
        frame = self._frames.innermost
        return (frame.node if frame else None) or {}

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        fields = self._fields()
        if name in fields:
            return fields[name]
        raise Unsupported(f"model.{name}")

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields().get(name, default)


class This:
    """`{{ this }}`: the model's own relation, known only when the model is built (its
    snapshot's table or view, which differs per fingerprint). Its attributes `schema`,
    `identifier` (and `name`, `table`) and `database` are what dbt gives in prod: the schema and
    alias of the model's view as dbt names them, and the target's database."""

    _NAMES = {
        "schema": "schema",
        "identifier": "alias",
        "name": "alias",
        "table": "alias",
        "database": "database",
    }

    def __init__(self, frames: Frames) -> None:
        self._frames = frames

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        if name not in self._NAMES:
            raise Unsupported(f"this.{name}")
        frame = self._frames.current
        fields = frame.node or {}
        if "relation" not in fields:
            if frame.node is None:
                raise Unsupported(f"this.{name} outside a model")
            frame.result.uses_this_names = True  # the loader renders again once names are known
            return ""
        return fields["relation"][self._NAMES[name]]

    def __str__(self) -> str:
        return THIS_PLACEHOLDER

    def __html__(self) -> str:
        return THIS_PLACEHOLDER

    def render(self) -> str:
        return THIS_PLACEHOLDER
