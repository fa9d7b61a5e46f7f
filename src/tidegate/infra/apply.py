"""Plan, apply and check an environment's infrastructure, under its lock.

`apply` makes the plan again and refuses if it differs from the one reviewed; the statements
run in one transaction with the record of what is managed, so a failing statement changes
nothing. What PostgreSQL refuses inside a transaction (creating and dropping databases) runs
around it: databases are created first and dropped again if the transaction fails, and
dropped only after it commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.errors import CheckFailed, EngineError, PlanError
from tidegate.infra.catalog import Catalog, catalog_for
from tidegate.infra.dialects import Statement, dialect_class, statements
from tidegate.infra.diff import Change, Impact, Managed, compare
from tidegate.infra.files import infra_files, load_infra
from tidegate.infra.resources import Inventory, Kind, Resource, resource
from tidegate.project.config import PROD

if TYPE_CHECKING:
    from tidegate.engines.base import EngineAdapter
    from tidegate.infra.terraform.plans import TerraformPlan
    from tidegate.plan.session import EnvironmentName, Session
    from tidegate.state.store import StateStore


@dataclass(frozen=True)
class Target:
    """An environment's infrastructure: its `infra/*.yml` (in `root`) and its warehouse."""

    root: Path
    environment: str
    """The concrete name (`dev_alice`), as `{{ env }}` and `only:` see it."""
    engine: EngineAdapter
    state: StateStore
    """Where what earlier applies made is recorded."""
    as_deployer: bool = False
    """Read the warehouse as its deploy role does (a pull request planning production)."""

    @classmethod
    def of(cls, session: Session, environment: EnvironmentName) -> Target:
        resolved = session.resolve(environment)
        return cls(
            session.root,
            resolved.name,
            session.engine(resolved),
            session.state(resolved),
            as_deployer=session.acts_as_pull_request,
        )


@dataclass(frozen=True)
class InfraPlan:
    environment: str
    dialect: str
    changes: list[Change]
    statements: list[Statement]
    unmanaged: list[Resource] = field(default_factory=list)
    desired: Inventory = field(default_factory=Inventory)
    """What the files declare: an apply records it as what the environment manages."""
    terraform: TerraformPlan | None = None
    """A Terraform plan shown alongside (`--terraform-plan`)."""

    @property
    def counts(self) -> dict[str, int]:
        return {
            action: sum(c.action == action for c in self.changes) for action in ("create", "update", "delete")
        }

    @property
    def destructive(self) -> list[Change]:
        return [change for change in self.changes if change.destructive]

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "dialect": self.dialect,
            "counts": self.counts,
            "changes": [change.to_dict() for change in self.changes],
            "statements": [statement.shown for statement in self.statements],
            "destructive": [change.resource.label for change in self.destructive],
            "terraform": self.terraform.to_dict() if self.terraform is not None else None,
        }


def desired(root: Path, environment: str, dialect: str) -> Inventory:
    inventory = load_infra(root, environment)
    dialect_class(dialect).check(inventory)
    return inventory


def managed_in(state: StateStore, environment: str) -> dict[tuple[str, str], Managed]:
    """What earlier applies of `environment` made, and which other environments manage it too."""
    rows = state.infra_resources()
    others: dict[tuple[str, str], list[str]] = {}
    for env, kind, name, _, _ in rows:
        if env != environment:
            others.setdefault((kind, name), []).append(env)
    found = {}
    for env, kind, name, attributes, keep in rows:
        if env == environment:
            item = resource(Kind(kind), name, prevent_destroy=keep, **_attributes(attributes))
            found[(kind, name)] = Managed(item, tuple(others.get((kind, name), ())))
    return found


def _attributes(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}


def warehouse_plan(target: Target, *, destructive: bool = True) -> InfraPlan:
    """The plan of the environment against its warehouse and what earlier applies made there."""
    catalog = catalog_for(target.engine, as_deployer=target.as_deployer)
    managed = managed_in(target.state, target.environment)
    return make_plan(
        target.root, target.environment, catalog, managed, passwords=True, destructive=destructive
    )


def make_plan(
    root: Path,
    environment: str,
    catalog: Catalog,
    managed: dict[tuple[str, str], Managed],
    *,
    passwords: bool = False,
    destructive: bool = True,
) -> InfraPlan:
    """The plan of `environment`'s files in `root` against what `catalog` holds (its warehouse,
    or a state file), with what `managed` says earlier applies made; `passwords`: the catalog
    is a warehouse, whose users' passwords are set (a state file says nothing of them).
    Without `destructive`, the plan leaves every destructive change out, and what it would have
    dropped stays managed (applying it records so)."""
    wanted = desired(root, environment, catalog.dialect)
    actual = catalog.read()
    diff = compare(
        wanted,
        actual,
        managed,
        production=environment == PROD,
        passwords=passwords,
        impact=Impact(catalog.objects_in_schema, catalog.objects_owned_by, catalog.dependents_outside),
    )
    if not destructive:
        kept = [managed[c.resource.key].resource for c in diff.destructive if c.action == "delete"]
        diff = replace(diff, changes=[change for change in diff.changes if not change.destructive])
        wanted = Inventory({**wanted.resources, **Inventory.of(kept).resources})
    roles = [*wanted.of_kind(Kind.ROLE), *actual.of_kind(Kind.ROLE)]  # a user being dropped too
    users = frozenset(item.name for item in roles if item.get("login"))
    schemas = [*actual.of_kind(Kind.SCHEMA), *wanted.of_kind(Kind.SCHEMA)]  # the declared owner wins
    owners = {item.name: item.get("owner") for item in schemas if item.get("owner")}
    return InfraPlan(
        environment,
        catalog.dialect,
        diff.changes,
        statements(diff.changes, catalog.dialect, users, catalog.databases_dir, owners),
        diff.unmanaged,
        wanted,
    )


def apply_plan(
    target: Target,
    *,
    allow_destroy: bool = False,
    reviewed: dict[str, Any] | None = None,
    allow_hint: str | None = None,
) -> InfraPlan:
    """Apply the environment's infrastructure plan; the caller holds the environment's lock.
    `reviewed` (a saved plan's `to_dict()`) must still be what the plan is. `allow_hint` says
    how the caller's command lets destructive changes through (default: `infra apply`'s)."""
    environment = target.environment
    plan = warehouse_plan(target)
    if reviewed is not None and _comparable(reviewed) != _comparable(plan.to_dict()):
        raise PlanError(
            "the infrastructure plan changed since it was reviewed (the files or the warehouse moved)",
            hint=f"make a new plan: tidegate infra plan {environment}",
        )
    if plan.destructive and not allow_destroy:
        labels = "; ".join(f"{c.resource.label}: {c.destructive}" for c in plan.destructive)
        raise CheckFailed(
            f"the infrastructure plan destroys: {labels}",
            hint=allow_hint or f"review it, then run tidegate infra apply {environment} --allow-destroy",
        )
    _execute(target, plan)  # with no change, it records what is managed
    return plan


def reapply(target: Target) -> tuple[InfraPlan, list[Change]]:
    """Apply the environment's declarations again, leaving out every destructive change (what
    healing drift may do; the caller holds the environment's lock): the plan applied, and the
    destructive changes left out."""
    plan = warehouse_plan(target)
    if not plan.destructive:
        _execute(target, plan)
        return plan, []
    safe = warehouse_plan(target, destructive=False)
    _execute(target, safe)
    return safe, plan.destructive


def declares_infra(root: Path) -> bool:
    """Whether the project in `root` declares infrastructure (`infra/*.yml`)."""
    return bool(infra_files(root))


def _comparable(document: dict[str, Any]) -> Any:
    """What a reviewer approved: each change (before and after) and the statements, as JSON
    has them (a saved plan's tuples are lists)."""
    reviewed = json.loads(json.dumps({"changes": document["changes"], "statements": document["statements"]}))
    for change in reviewed["changes"]:
        change.pop("location", None)  # moving a declaration in its file changes nothing
    return reviewed


def _execute(target: Target, plan: InfraPlan) -> None:
    engine, state, environment = target.engine, target.state, target.environment
    before = [s for s in plan.statements if not s.transactional and s.undo is not None]
    after = [s for s in plan.statements if not s.transactional and s.undo is None]
    inside = [s for s in plan.statements if s.transactional]
    executable = {id(s): s.executable() for s in plan.statements}  # every secret is there first
    # what is dropped after the transaction stays managed until its drop succeeded: a rerun retries it
    dropping_after = [
        c.resource for c in plan.changes if c.action == "delete" and c.resource.kind is Kind.DATABASE
    ]
    done: list[Statement] = []
    try:
        for statement in before:
            _run(engine, statement, executable[id(statement)])
            done.append(statement)
        with engine.transaction():
            for statement in inside:
                _run(engine, statement, executable[id(statement)])
            _record(state, environment, plan, dropping_after)
    except BaseException as error:
        failed_undo = []
        for statement in reversed(done):  # the databases this apply created
            if statement.undo is not None:
                try:
                    _run(engine, statement.undo, statement.undo.sql)
                except (EngineError, OSError):
                    failed_undo.append(statement.undo.shown)
        if failed_undo and isinstance(error, EngineError):
            raise type(error)(
                f"{error.message}; could not undo, do it by hand: {'; '.join(failed_undo)}"
            ) from None
        raise
    for statement in after:
        _run(engine, statement, executable[id(statement)])
    if dropping_after:
        with engine.transaction():
            _record(state, environment, plan, [])


def _record(state: StateStore, environment: str, plan: InfraPlan, also: list[Resource]) -> None:
    managed = [*plan.desired.resources.values(), *also]
    state.record_infra(
        environment,
        [
            (item.kind.value, item.name, dict(item.attributes), item.prevent_destroy)
            for item in sorted(managed, key=lambda r: r.key)
        ],
    )


def _run(engine: EngineAdapter, statement: Statement, sql: str) -> None:
    if statement.creates_file is not None:
        Path(statement.creates_file).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine.execute(sql)
    except EngineError as error:
        raise type(error)(f"{statement.shown}: {error.message}") from None
    if statement.remove_file is not None:
        Path(statement.remove_file).unlink(missing_ok=True)


@dataclass(frozen=True)
class Drift:
    """What changed by hand: managed resources that no longer match their declaration and
    hand-made grants and memberships on what tidegate manages (these fail `drift`), and, for
    information, the roles and schemas no file declares (a server has many of its own)."""

    changed: list[Change]
    unmanaged: list[Resource]
    other: list[Resource] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.unmanaged)


def drift(target: Target) -> Drift:
    plan = warehouse_plan(target)
    managed = managed_in(target.state, target.environment)
    changed = [
        change for change in plan.changes if change.resource.key in managed and change.action != "delete"
    ]
    names = {
        name for kind, name in managed if kind in (Kind.ROLE.value, Kind.SCHEMA.value, Kind.DATABASE.value)
    }
    touching = [
        item
        for item in plan.unmanaged
        if item.kind in (Kind.GRANT, Kind.MEMBERSHIP) and _touches(item, names)
    ]
    other = [item for item in plan.unmanaged if item.kind in (Kind.ROLE, Kind.SCHEMA)]
    return Drift(changed, touching, other)


def _touches(item: Resource, names: set[str]) -> bool:
    obj = item.get("object") or ""
    related = {item.get("grantee"), item.get("role"), item.get("group"), obj, obj.split(".", 1)[0]}
    return bool(related & names)
