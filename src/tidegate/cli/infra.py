"""`tidegate infra plan|apply|drift|import|export ENV`: the warehouse's infrastructure as code
(DESIGN section 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

from tidegate.cli import Output, cli, command, context
from tidegate.errors import ConfigError
from tidegate.infra.dialects import STATE_FILE_DIALECTS

if TYPE_CHECKING:
    from tidegate.infra.apply import Drift, InfraPlan
    from tidegate.infra.diff import Change


@cli.group("infra")
def infra() -> None:
    """Databases, schemas, roles, users and grants declared in infra/*.yml.

    `plan` shows what would change in an environment's warehouse, `apply` makes it so, `drift`
    lists what was changed by hand (exit 1 if anything was), `import` writes YAML declaring a
    live warehouse, `export --format terraform` hands it over to Terraform. Only resources
    tidegate manages are ever changed or dropped.
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
    """What applying infra/*.yml to ENV would create (+), update (~) and delete (-).

    Destructive changes (dropping a schema that holds tables, a role that owns objects, any
    revoke in prod) are marked and need `apply --allow-destroy`.
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
        else:
            plan = warehouse_plan(Target.of(ctx, environment))
    if terraform_plan is not None:
        from tidegate.infra.terraform.plans import read_terraform_plan

        plan = replace(plan, terraform=read_terraform_plan(terraform_plan))
    if out is not None:
        out.write_text(json.dumps(plan.to_dict(), indent=2) + "\n")
    if output.as_json:
        output.json(plan.to_dict())
    render_plan(output.human, plan)
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
    and grants or memberships made by hand on what tidegate manages. Exit 1 if any."""
    from tidegate.infra.apply import Target, drift

    with context(project_dir, output) as ctx:
        found = drift(Target.of(ctx, environment))
    if output.as_json:
        output.json(
            {
                "environment": environment,
                "drift": bool(found),
                "changed": [change.to_dict() for change in found.changed],
                "unmanaged": [
                    {"kind": r.kind.value, "name": r.name, "label": r.label} for r in found.unmanaged
                ],
                "not_declared": [
                    {"kind": r.kind.value, "name": r.name, "label": r.label} for r in found.other
                ],
            }
        )
    render_drift(output.human, environment, found)
    return 1 if found else 0


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
        console.print(f"  {plan.terraform.summary}", highlight=False)


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
        console.print(f"[green]No drift[/]: {environment}'s warehouse matches what tidegate applied")
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
