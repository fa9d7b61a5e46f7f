"""The base of every section of `tidegate.yml`, and the error that points at one of its keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LocatedError(ValueError):
    """A cross-field validation error that knows which key of `tidegate.yml` it is about."""

    def __init__(self, message: str, location: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.location = location


class Strict(BaseModel):
    """Unknown keys are errors, values never change after loading, and validators are built
    on first use (not when a command imports the module)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
