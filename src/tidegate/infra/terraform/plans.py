"""Reading Terraform's plans: the JSON of `terraform show -json PLANFILE` (format 0.x, which
Terraform 0.12 to 1.0 write, and 1.x, which later versions and OpenTofu write: the same fields).

What a reviewer sees of a plan is its resource changes: the address, the action, and which
attributes change. Values marked sensitive (`before_sensitive`, `after_sensitive`) never leave
this module: they are replaced by `(sensitive)` in the changes and in the JSON kept as a reviewed
artifact (`redact_plan`), and in the digest of a change (`TerraformChange.digest`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError
from tidegate.project.files import read_text

ACTIONS = ("create", "update", "replace", "delete", "read", "forget")
"""The actions of a Terraform plan in the order a summary lists them (no-ops are left out)."""
SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "read": "<=", "forget": "."}
"""Terraform's own mark for each action, as its plans print them."""
DESTRUCTIVE = ("delete", "replace")
"""The actions that lose what a resource holds: they fail CI unless allowed."""
SENSITIVE = "(sensitive)"


@dataclass(frozen=True)
class AttributeChange:
    name: str
    before: Any
    after: Any
    """`(known after apply)` when the provider computes it, `(sensitive)` when marked so."""


@dataclass(frozen=True)
class TerraformChange:
    address: str
    type: str
    action: str
    """One of ACTIONS, or the actions joined by `+` for a combination a newer Terraform adds."""
    attributes: tuple[AttributeChange, ...] = ()
    """The top-level attributes that change (updates and replacements), values redacted."""
    replaced_by: tuple[str, ...] = ()
    """The attributes that force a replacement (`replace_paths`)."""
    digest: str = ""
    """A hash of the address, the actions and the planned values, sensitive ones as `(sensitive)`
    (so a plan's JSON as kept, `redact_plan`, has the same digests, and no secret is hashed): two
    plans with equal digests make the same change, as far as a reviewer can see."""

    @property
    def destructive(self) -> bool:
        return self.action in DESTRUCTIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "action": self.action,
            "destructive": self.destructive,
            "attributes": [{"name": a.name, "before": a.before, "after": a.after} for a in self.attributes],
            "replaced_by": list(self.replaced_by),
        }


@dataclass(frozen=True)
class TerraformPlan:
    """What a Terraform plan changes: enough for tidegate's report to show it beside its own."""

    terraform_version: str
    changes: tuple[TerraformChange, ...]

    @property
    def counts(self) -> dict[str, int]:
        """How many changes of each action, for the actions that occur."""
        found = [change.action for change in self.changes]
        order = [*ACTIONS, *sorted(set(found) - set(ACTIONS))]
        return {action: found.count(action) for action in order if action in found}

    @property
    def addresses(self) -> list[str]:
        return [change.address for change in self.changes]

    @property
    def destructive(self) -> tuple[TerraformChange, ...]:
        return tuple(change for change in self.changes if change.destructive)

    @property
    def summary(self) -> str:
        counts = self.counts
        return ", ".join(f"{n} to {action}" for action, n in counts.items()) if counts else "no changes"

    def same_changes(self, other: TerraformPlan) -> bool:
        """Whether two plans make exactly the same resource changes (the rule for applying a
        plan made again after the reviewed one went stale)."""
        return sorted(c.digest for c in self.changes) == sorted(c.digest for c in other.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "terraform_version": self.terraform_version,
            "counts": self.counts,
            "changes": [change.to_dict() for change in self.changes],
        }


def read_terraform_plan(path: Path) -> TerraformPlan:
    """The changes of a plan from the JSON `terraform show -json PLANFILE` prints."""
    text = read_text(path, error=ConfigError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"the Terraform plan is not JSON: {error.msg}", path=path, line=error.lineno
        ) from None
    return plan_from_json(data, path)


def plan_from_json(data: Any, path: Path | str) -> TerraformPlan:
    """The changes of a plan's JSON document; `path` names it in errors."""
    hint = "write it with: terraform show -json PLANFILE > plan.json"
    if not isinstance(data, dict) or not isinstance(data.get("format_version"), str):
        raise ConfigError("not the JSON of a Terraform plan: it has no format_version", path=path, hint=hint)
    if data["format_version"].split(".")[0] not in ("0", "1"):
        raise ConfigError(
            f"Terraform's JSON format {data['format_version']} is not supported (0.x and 1.x are)",
            path=path,
        )
    if "planned_values" not in data and "resource_changes" not in data:
        problem = "it is the JSON of a state" if "values" in data else "it has no planned_values"
        raise ConfigError(f"not the JSON of a Terraform plan: {problem}", path=path, hint=hint)
    if data.get("errored"):
        raise ConfigError("Terraform could not finish this plan (it is marked errored)", path=path)
    entries = data.get("resource_changes", [])
    if not isinstance(entries, list):
        raise ConfigError("resource_changes is not a list", path=path)
    changes = [change for index, entry in enumerate(entries) if (change := _change(entry, index, path))]
    return TerraformPlan(str(data.get("terraform_version", "")), tuple(changes))


@dataclass(frozen=True)
class Drifted:
    """A resource a refresh-only plan found changed outside Terraform."""

    address: str
    attributes: tuple[str, ...] = ()
    """The top-level attributes that changed; empty when the object is gone."""

    @property
    def deleted(self) -> bool:
        return not self.attributes

    def __str__(self) -> str:
        return f"{self.address} ({'deleted' if self.deleted else 'changed: ' + ', '.join(self.attributes)})"


def drifted(data: dict[str, Any]) -> list[Drifted]:
    """What a refresh-only plan found changed outside Terraform (`resource_drift`), sorted by
    address (Terraform refreshes in parallel and lists drift in no fixed order)."""
    found = []
    for entry in data.get("resource_drift") or data.get("resource_changes") or []:
        change = entry.get("change") or {}
        if (change.get("actions") or []) == ["no-op"]:
            continue
        if change.get("after") is None:
            found.append(Drifted(str(entry.get("address"))))
            continue
        names = tuple(a.name for a in _attributes(change)) or ("attributes",)
        found.append(Drifted(str(entry.get("address")), names))
    return sorted(found, key=lambda item: item.address)


def redacted(data: Any, sensitive: Any) -> Any:
    """`data` with every value `sensitive` marks (Terraform's parallel structure of `true`s)
    replaced by `(sensitive)`."""
    if sensitive is True:
        return SENSITIVE if data is not None else None
    if isinstance(data, dict):
        marks = sensitive if isinstance(sensitive, dict) else {}
        return {key: redacted(value, marks.get(key)) for key, value in data.items()}
    if isinstance(data, list):
        items = sensitive if isinstance(sensitive, list) else []
        return [redacted(value, items[i] if i < len(items) else None) for i, value in enumerate(data)]
    return data


KEPT = (
    "format_version",
    "terraform_version",
    "relevant_attributes",
    "applyable",
    "complete",
    "errored",
    "timestamp",
)
"""The parts of a plan's JSON kept as they are: none holds a value of the configuration."""


def redact_plan(data: dict[str, Any]) -> dict[str, Any]:
    """A plan's JSON safe to keep and show: its changes with every sensitive value replaced.
    Everything else is left out, as it holds those values unmarked: `variables`, `prior_state`,
    `planned_values`, and `configuration` (whose `constant_value`s are the values written in
    the `.tf` files, a sensitive attribute's too); so is whatever a newer Terraform adds."""
    keep: dict[str, Any] = {key: data[key] for key in KEPT if key in data}
    keep["resource_changes"] = []  # Terraform 1.0 leaves it out of a plan without changes
    for key in ("resource_changes", "resource_drift", "output_changes"):
        entries = data.get(key)
        if isinstance(entries, list):
            keep[key] = [_redact_entry(entry) for entry in entries]
        elif isinstance(entries, dict):  # output_changes: {name: change}
            keep[key] = {name: _redact_change(change) for name, change in entries.items()}
    return keep


def _redact_entry(entry: Any) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("change"), dict):
        return entry
    return {**entry, "change": _redact_change(entry["change"])}


_CHANGE = ("actions", "after_unknown", "before_sensitive", "after_sensitive", "replace_paths", "importing")
"""The parts of a change kept as they are (a newer Terraform's `generated_config` is not)."""


def _redact_change(change: Any) -> Any:
    if not isinstance(change, dict):
        return change
    return {
        **{key: change[key] for key in _CHANGE if key in change},
        "before": redacted(change.get("before"), change.get("before_sensitive")),
        "after": redacted(change.get("after"), change.get("after_sensitive")),
    }


def _change(entry: Any, index: int, path: Path | str) -> TerraformChange | None:
    entry = entry if isinstance(entry, dict) else {}
    change = entry.get("change")
    actions = change.get("actions") if isinstance(change, dict) else None
    address = entry.get("address")
    if not isinstance(address, str) or not isinstance(actions, list) or not actions:
        raise ConfigError(f"resource_changes[{index}] has no address or no change.actions", path=path)
    if actions == ["no-op"]:
        return None
    assert isinstance(change, dict)
    action = "replace" if sorted(actions) == ["create", "delete"] else "+".join(map(str, actions))
    if entry.get("deposed"):
        address = f"{address} (deposed object {entry['deposed']})"
    attributes = _attributes(change) if action in ("update", "replace") else ()
    replaced = tuple(sorted({_path_name(p) for p in change.get("replace_paths") or []}))
    after = redacted(change.get("after"), change.get("after_sensitive"))  # as kept: no secret hashed
    planned = json.dumps([address, actions, after, change.get("after_unknown")], sort_keys=True)
    digest = hashlib.sha256(planned.encode()).hexdigest()
    return TerraformChange(address, str(entry.get("type", "")), action, attributes, replaced, digest)


def _attributes(change: dict[str, Any]) -> tuple[AttributeChange, ...]:
    """The top-level attributes whose value changes (compared as planned, shown redacted)."""
    before, after = change.get("before") or {}, change.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return ()
    shown_before = redacted(before, change.get("before_sensitive"))
    shown_after = redacted(after, change.get("after_sensitive"))
    unknown = change.get("after_unknown")
    unknown = unknown if isinstance(unknown, dict) else {}
    found = []
    for name in sorted({*before, *after}):
        if unknown.get(name) is True:
            if name in before and before[name] is not None:
                found.append(AttributeChange(name, shown_before.get(name), "(known after apply)"))
        elif before.get(name) != after.get(name):
            found.append(AttributeChange(name, shown_before.get(name), shown_after.get(name)))
    return tuple(found)


def _path_name(path: Any) -> str:
    """A `replace_paths` entry (a list of steps) as the attribute's name."""
    if isinstance(path, list) and path:
        return ".".join(str(step) for step in path)
    return str(path)
