"""`tidegate infra plan|apply|drift|import|export ENV`: the warehouse's infrastructure as code
(DESIGN section 6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from tidegate.cli import Output, cli, command, context
from tidegate.errors import ConfigError
from tidegate.infra import STATE_FILE_DIALECTS

if TYPE_CHECKING:
    from tidegate.context import Context
    from tidegate.infra.apply import Drift, InfraPlan
    from tidegate.infra.diff import Change
    from tidegate.infra.terraform.plans import TerraformPlan
    from tidegate.infra.terraform.roots import RootFiles
    from tidegate.infra.terraform.workflow import RootPlan, Settings

T = TypeVar("T")


@cli.group("infra")
def infra() -> None:
    """Databases, schemas, roles, users and grants declared in infra/*.yml, and the
    environment's Terraform roots (`terraform: roots:` in tidegate.yml).

    `plan` shows what would change in an environment's warehouse and in its Terraform roots,
    `apply` applies infra/*.yml (Terraform roots are applied by `tidegate deploy`, from the plan
    CI reviewed), `drift` lists what was changed by hand or outside Terraform (exit 1 if
    anything was), `import` writes YAML declaring a live warehouse, `export --format terraform`
    hands it over to Terraform. Only resources tidegate manages are ever changed or dropped.
    """


@command(infra, "plan")
@click.argument("environment")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan (JSON) for `apply --plan`."
)
@click.option(
    "--dialect",
    type=click.Choice(STATE_FILE_DIALECTS),
    help="Plan against a saved state file (--state) in this dialect.",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A saved state file (JSON) describing the warehouse.",
)
@click.option(
    "--terraform-plan",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The JSON of `terraform show -json PLAN`, shown in the same review.",
)
def plan_command(
    environment: str,
    out: Path | None,
    dialect: str | None,
    state_file: Path | None,
    terraform_plan: Path | None,
    project_dir: Path,
    output: Output,
) -> int:
    """What applying infra/*.yml to ENV would create (+), update (~) and delete (-), and the
    plan of each of ENV's Terraform roots (planned, never kept: CI keeps the reviewed plans).

    Destructive changes (dropping a schema that holds tables, a role that owns objects, any
    revoke in prod; deleting or replacing a Terraform resource) are marked. With --state, the
    Terraform roots are left out: they plan against their own backend, not a state file.
    """
    from dataclasses import replace

    from tidegate.infra.apply import Target, make_plan, warehouse_plan
    from tidegate.infra.catalog import StateFileCatalog

    if (dialect is None) != (state_file is None):
        raise ConfigError("--dialect and --state go together: a state file is planned in a dialect")
    with context(project_dir, output) as ctx:
        if state_file is not None and dialect is not None:
            catalog = StateFileCatalog(state_file, dialect)
            plan = make_plan(ctx.root, ctx.environment(environment), catalog, managed={})
            roots = []
        else:
            plan = warehouse_plan(Target.of(ctx, environment))
            roots = _plan_roots(ctx, environment, output)
    if terraform_plan is not None:
        from tidegate.infra.terraform.plans import read_terraform_plan

        plan = replace(plan, terraform=read_terraform_plan(terraform_plan))
    document = {**plan.to_dict(), "terraform_roots": [root.to_dict() for root in roots]}
    if out is not None:
        out.write_text(json.dumps(document, indent=2) + "\n")
    if output.as_json:
        output.json(document)
    render_plan(output.human, plan)
    for root in roots:
        render_root_plan(output.human, root)
    if out is not None:
        output.human.print(
            f"Plan saved to {out}: apply it with `tidegate infra apply {plan.environment} --plan {out}`"
        )
    return 0


@command(infra, "apply")
@click.argument("environment")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A plan saved by `infra plan --out`: refused if the plan changed since.",
)
@click.option("--allow-destroy", is_flag=True, help="Apply destructive changes too.")
def apply_command(
    environment: str, plan_file: Path | None, allow_destroy: bool, project_dir: Path, output: Output
) -> int:
    """Apply infra/*.yml to ENV's warehouse, in one transaction where the engine allows."""
    from tidegate.infra.apply import Target, apply_plan

    reviewed = _read_plan(plan_file) if plan_file is not None else None
    with context(project_dir, output) as ctx, ctx.lock(environment):
        plan = apply_plan(Target.of(ctx, environment), allow_destroy=allow_destroy, reviewed=reviewed)
    if output.as_json:
        output.json({**plan.to_dict(), "applied": True})
    render_plan(output.human, plan)
    render_applied(output.human, plan, listed=False)
    return 0


def _plan_roots(ctx: Context, environment: str, output: Output) -> list[RootPlan]:
    """Plan each of the environment's Terraform roots in the working tree (nothing is kept)."""
    from tidegate.infra.terraform.workflow import plan_root

    return [planned for _, planned in _each_root(ctx, environment, output, "planning", plan_root)]


def _read_plan(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"not a saved infrastructure plan: {error.msg}", path=path, line=error.lineno
        ) from None
    if not isinstance(document, dict) or "changes" not in document:
        raise ConfigError("not a saved infrastructure plan", path=path)
    return document


@command(infra, "drift")
@click.argument("environment")
def drift_command(environment: str, project_dir: Path, output: Output) -> int:
    """What was changed by hand in ENV: managed resources that differ from their declaration,
    grants or memberships made by hand on what tidegate manages, and resources of ENV's
    Terraform roots changed outside Terraform (a refresh-only plan of each). Exit 1 if any."""
    from tidegate.infra.apply import Target, drift

    with context(project_dir, output) as ctx:
        found = drift(Target.of(ctx, environment))
        terraform = _drift_roots(ctx, environment, output)
    drifted = bool(found) or any(addresses for _, addresses in terraform)
    if output.as_json:
        output.json(
            {
                "environment": environment,
                "drift": drifted,
                "changed": [change.to_dict() for change in found.changed],
                "unmanaged": [
                    {"kind": r.kind.value, "name": r.name, "label": r.label} for r in found.unmanaged
                ],
                "not_declared": [
                    {"kind": r.kind.value, "name": r.name, "label": r.label} for r in found.other
                ],
                "terraform": [{"root": root, "drifted": addresses} for root, addresses in terraform],
            }
        )
    render_drift(output.human, environment, found)
    for root, addresses in terraform:
        render_root_drift(output.human, root, addresses)
    return 1 if drifted else 0


def _drift_roots(ctx: Context, environment: str, output: Output) -> list[tuple[str, list[str]]]:
    """Each of the environment's Terraform roots (in the working tree) and what a refresh-only
    plan of it finds changed outside Terraform."""
    from tidegate.infra.terraform.workflow import drift_root

    found = _each_root(ctx, environment, output, "refreshing", drift_root)
    return [(files.root.path, [str(item) for item in drifted]) for files, drifted in found]


def _each_root(
    ctx: Context, environment: str, output: Output, doing: str, work: Callable[[Path, RootFiles, Settings], T]
) -> list[tuple[RootFiles, T]]:
    """Each of the environment's Terraform roots (in the working tree), and `work` done on it."""
    from tidegate.infra.terraform.workflow import Settings, environment_roots

    roots = environment_roots(ctx.root, ctx.config, ctx.resolve(environment).name)
    if not roots:
        return []
    settings = Settings.of(ctx.config.terraform, ctx.root)
    done = []
    for files in roots:
        output.err.print(f"[dim]Terraform: {doing} {files.root.path}[/]")
        done.append((files, work(ctx.root, files, settings)))
    return done


@command(infra, "import")
@click.argument("environment")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write (default: infra/imported.yml).",
)
def import_command(environment: str, out: Path | None, project_dir: Path, output: Output) -> int:
    """Write YAML declaring the roles, users, schemas and grants ENV's warehouse has, so that
    the next plan is empty."""
    from tidegate.infra.catalog import catalog_for
    from tidegate.infra.importer import import_yaml

    with context(project_dir, output) as ctx:
        environment = ctx.environment(environment)
        inventory = catalog_for(ctx.engine(environment)).read()
    target = out or project_dir / "infra" / "imported.yml"
    if target.exists():
        raise ConfigError("will not overwrite an existing file", path=target, hint="choose another --out")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        import_yaml(inventory, f"Imported by `tidegate infra import {environment}` on {stamp}.")
    )
    if output.as_json:
        output.json({"environment": environment, "path": str(target), "resources": len(inventory)})
    output.human.print(
        f"Wrote {target}: {len(inventory)} resource(s); `tidegate infra plan {environment}` is now empty"
    )
    return 0


@command(infra, "export")
@click.argument("environment")
@click.option("--format", "format_", type=click.Choice(["terraform"]), required=True, help="What to write.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write (default: infra.tf.json)."
)
def export_command(
    environment: str, format_: str, out: Path | None, project_dir: Path, output: Output
) -> int:
    """Write ENV's declared resources as Terraform JSON for the cyrilgdn/postgresql provider."""
    from tidegate.infra.files import load_infra
    from tidegate.infra.terraform.export import export_terraform

    with context(project_dir, output) as ctx:
        environment = ctx.environment(environment)
        document = export_terraform(load_infra(ctx.root, environment), environment)
    target = out or project_dir / "infra.tf.json"
    target.write_text(json.dumps(document, indent=2) + "\n")
    if output.as_json:
        output.json({"environment": environment, "path": str(target)})
    output.human.print(f"Wrote {target}")
    return 0


# rendering ---------------------------------------------------------------------------------

_MARKERS = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}


def render_plan(console: Console, plan: InfraPlan) -> None:
    _render_changes(console, "Infrastructure plan for ", plan)
    counts = plan.counts
    summary = (
        f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete"
    )
    console.print(
        Text(summary, style="bold")
        if plan.changes
        else Text("No changes: the warehouse matches infra/*.yml", style="green")
    )
    if plan.destructive:
        console.print(
            Text(
                f"{len(plan.destructive)} destructive change(s): apply needs --allow-destroy",
                style="bold red",
            )
        )
    if plan.statements:
        console.print(Text("Statements:", style="bold"))
        for statement in plan.statements:
            console.print(f"  {statement.shown};", highlight=False)
    if plan.unmanaged:
        console.print(
            f"[dim]{len(plan.unmanaged)} resource(s) of the warehouse are not managed here (see `tidegate infra drift`)[/]"
        )
    if plan.terraform is not None:
        console.print(Text("Terraform plan:", style="bold"))
        render_terraform_changes(console, plan.terraform)


def _render_changes(console: Console, title: str, plan: InfraPlan) -> None:
    console.print(Text.assemble((title, "bold"), (plan.environment, "bold magenta"), f" ({plan.dialect})"))
    for change in plan.changes:
        render_change(console, change)


def render_applied(console: Console, plan: InfraPlan, *, listed: bool = True) -> None:
    """What an apply did: each change (unless the plan was just shown), then the counts. `infra
    apply` and `deploy` say it alike."""
    if listed:
        _render_changes(console, "Infrastructure of ", plan)
    counts = plan.counts
    console.print(
        f"[green]Applied[/]: {counts['create']} created, {counts['update']} updated, {counts['delete']} deleted"
    )


def render_change(console: Console, change: Change) -> None:
    marker, colour = _MARKERS[change.action]
    line = Text.assemble((f"  {marker} ", colour), (change.resource.label, "bold"))
    if change.resource.location:
        line.append(f"  ({change.resource.location})", style="dim")
    console.print(line)
    for attribute, before, after in change.differences:
        console.print(f"      {attribute}: {before!r} -> {after!r}", highlight=False)
    if change.destructive:
        console.print(Text(f"      !! destroys: {change.destructive}", style="bold red"))


def render_drift(console: Console, environment: str, found: Drift) -> None:
    if not found:
        console.print(
            f"[green]No drift[/] in infra/*.yml: {environment}'s warehouse matches what tidegate applied"
        )
        if found.other:
            console.print(f"[dim]{len(found.other)} role(s) and schema(s) are not declared in infra/*.yml[/]")
        return
    console.print(Text.assemble(("Drift in ", "bold"), (environment, "bold magenta")))
    for change in found.changed:
        render_change(console, change)
    for item in found.unmanaged:
        console.print(
            Text.assemble(("  ? ", "yellow"), (item.label, "bold"), " (made by hand, not in infra/*.yml)")
        )
    if found.other:
        listed = ", ".join(item.label for item in found.other[:10]) + (
            " ..." if len(found.other) > 10 else ""
        )
        console.print(f"[dim]Not declared in infra/*.yml, left alone: {listed}[/]")


def render_root_plan(console: Console, planned: RootPlan) -> None:
    """One Terraform root's plan: its changes, destructive ones marked, and what CI would block."""
    root = planned.root
    console.print(
        Text.assemble(("Terraform root ", "bold"), (root.path, "bold magenta"), f" ({root.environment})")
    )
    render_terraform_changes(console, planned.plan)
    if planned.blocked:
        console.print(
            Text(
                f"{len(planned.blocked)} destructive change(s) CI would fail: "
                f"{', '.join(c.address for c in planned.blocked)}",
                style="bold red",
            )
        )
        console.print(
            "[dim]allow them with `tidegate ci --allow-destroy` or `terraform: allow_destroy:` in tidegate.yml[/]"
        )
    for name in planned.unformatted:
        console.print(f"[yellow]not formatted[/]: {name} (terraform fmt)")
    for warning in planned.warnings:
        console.print(f"[yellow]warning[/]: {warning.message}", highlight=False)


def render_terraform_changes(console: Console, plan: TerraformPlan) -> None:
    """A Terraform plan's resource changes (sensitive values are redacted already), then its counts."""
    from tidegate.cli.render import render_terraform_change

    for change in plan.changes:
        render_terraform_change(console, change)
    console.print(
        Text(f"  Terraform: {plan.summary}", style="bold")
        if plan.changes
        else Text("  No changes: the resources match the configuration", style="green")
    )


def render_root_drift(console: Console, root: str, drifted: list[str]) -> None:
    if not drifted:
        console.print(f"[green]No Terraform drift[/]: root {root} matches its state")
        return
    console.print(
        Text.assemble(
            ("Terraform drift in root ", "bold"), (root, "bold magenta"), " (changed outside Terraform)"
        )
    )
    for shown in drifted:
        console.print(Text.assemble(("  ~ ", "yellow"), shown), highlight=False)
