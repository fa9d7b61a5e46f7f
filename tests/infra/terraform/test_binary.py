"""Running Terraform, and what it says turned into tidegate's errors: the root, the file
(relative to the project) and the line, from `-json` diagnostics or, for `init`, its text.

The captured outputs below are what the real Terraform 1.0.3 printed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.infra.terraform.kit import SOURCE, TerraformKit
from tidegate.errors import TerraformApplyFailed, TerraformError
from tidegate.infra.terraform.binary import (
    PROVIDER_HINT,
    Diagnostic,
    StalePlan,
    Terraform,
    _json_diagnostics,
    _text_diagnostics,
    find_binary,
)

INIT_SYNTAX = """
There are some problems with the configuration, described below.

The Terraform configuration must be valid before initialization so that
Terraform can determine which modules and providers need to be installed.

Error: Invalid expression

  on broken.tf line 3, in resource "pg_schema" "b":
   3:   comment = 
   4: }

Expected the start of an expression, but found an invalid expression token.

Error: Unsupported block type

  on other.tf line 1:
   1: resourc "x" {

Blocks of type "resourc" are not expected here.
"""  # noqa: W291 (Terraform prints the trailing space)

INIT_MISSING_PROVIDER = """
Initializing the backend...

Initializing provider plugins...
- Finding tidegate.test/test/nope versions matching "1.0.0"...

Error: Failed to query available provider packages

Could not retrieve the list of available versions for provider
tidegate.test/test/nope: provider tidegate.test/test/nope was not found in
any of the search locations

  - /tmp/mirror

"""

COLOURED = """
╷
│ Warning: Deprecated attribute
│
│   on main.tf line 9, in resource "pg_schema" "a":
│    9:   comment = x
│
│ Use something else.
╵
╷
│ Error: Saved plan is stale
│
│ The given plan file can no longer be applied because the state was changed
│ by another operation after the plan was created.
╵
"""

APPLY_LOG = (
    '{"@level":"info","@message":"Terraform 1.0.3","type":"version","terraform":"1.0.3","ui":"0.1.0"}\n'
    '{"@level":"info","@message":"pg_schema.fine: Creation complete after 0s","type":"apply_complete"}\n'
    'not JSON at all\n["a list"]\n'
    '{"@level":"error","@message":"Error: cannot create schema","@module":"terraform.ui","diagnostic":'
    '{"severity":"error","summary":"cannot create schema","detail":"schema \\"spike_taken\\" already exists",'
    '"address":"pg_schema.taken","range":{"filename":"main.tf","start":{"line":25,"column":30,"byte":478},'
    '"end":{"line":25,"column":31,"byte":479}}},"type":"diagnostic"}\n'
    '{"@level":"error","@message":"Error: Saved plan is stale","diagnostic":{"severity":"error",'
    '"summary":"Saved plan is stale","detail":"The given plan file can no longer be applied."},"type":"diagnostic"}\n'
)


def test_text_diagnostics() -> None:
    assert _text_diagnostics(INIT_SYNTAX) == [
        Diagnostic(
            "error",
            "Invalid expression",
            "Expected the start of an expression, but found an invalid expression token.",
            "broken.tf",
            3,
        ),
        Diagnostic(
            "error",
            "Unsupported block type",
            'Blocks of type "resourc" are not expected here.',
            "other.tf",
            1,
        ),
    ]
    (missing,) = _text_diagnostics(INIT_MISSING_PROVIDER)
    assert (missing.summary, missing.path, missing.line) == (
        "Failed to query available provider packages",
        None,
        None,
    )
    assert "tidegate.test/test/nope was not found" in missing.message
    warning, stale = _text_diagnostics(COLOURED)
    assert (warning.severity, warning.path, warning.line, warning.detail) == (
        "warning",
        "main.tf",
        9,
        "Use something else.",
    )
    assert (stale.severity, stale.summary) == ("error", "Saved plan is stale")


def test_json_diagnostics() -> None:
    failed, stale = _json_diagnostics(APPLY_LOG)
    assert failed == Diagnostic(
        "error",
        "cannot create schema",
        'schema "spike_taken" already exists',
        "main.tf",
        25,
        "pg_schema.taken",
    )
    assert failed.message == 'pg_schema.taken: cannot create schema: schema "spike_taken" already exists'
    assert (stale.summary, stale.path, stale.line) == ("Saved plan is stale", None, None)


def terraform(folder: Path, root: str = "terraform/warehouse", executable: str = "terraform") -> Terraform:
    return Terraform(executable, folder, root=root, data_dir=folder / ".data")


def test_errors_name_the_root_the_project_file_and_the_line(tmp_path: Path) -> None:
    folder = tmp_path / "terraform/warehouse"
    folder.mkdir(parents=True)
    runner = terraform(folder)
    error = runner._error(_json_diagnostics(APPLY_LOG), "apply failed", failed=TerraformApplyFailed)
    assert isinstance(error, TerraformApplyFailed) and error.exit_code == 1
    assert (error.path, error.line) == ("terraform/warehouse/main.tf", 25)
    assert error.message == (
        'terraform/warehouse: pg_schema.taken: cannot create schema: schema "spike_taken" already exists'
        " (and 1 more)"
    )
    in_module = runner._error([Diagnostic("error", "Bad", path="../../shared/m/main.tf", line=2)], "x")
    assert (in_module.path, in_module.line) == ("shared/m/main.tf", 2)
    absolute = runner._error([Diagnostic("error", "Bad", path=str(tmp_path / "shared/m/x.tf"), line=4)], "x")
    assert absolute.path == "shared/m/x.tf"
    warning_only = runner._error(_text_diagnostics(COLOURED)[:1], "terraform plan failed", "panic: boom\n")
    assert (warning_only.message, warning_only.path) == (
        "terraform/warehouse: terraform plan failed: panic: boom",
        "terraform/warehouse",
    )


def test_a_missing_provider_is_found_in_the_roots_files(tmp_path: Path) -> None:
    folder = tmp_path / "terraform/warehouse"
    folder.mkdir(parents=True)
    (folder / "a.tf").write_text('resource "pg_schema" "a" {\n  name = "a"\n}\n')
    (folder / "versions.tf").write_text(
        'terraform {\n  required_providers {\n    nope = { source = "tidegate.test/test/nope" }\n  }\n}\n'
    )
    error = terraform(folder)._error(_text_diagnostics(INIT_MISSING_PROVIDER), "init failed")
    assert (error.path, error.line, error.hint) == ("terraform/warehouse/versions.tf", 3, PROVIDER_HINT)
    implicit = INIT_MISSING_PROVIDER.replace("tidegate.test/test/nope", "hashicorp/pg")
    error = terraform(folder)._error(_text_diagnostics(implicit), "init failed")
    assert (error.path, error.line) == ("terraform/warehouse/a.tf", 1)  # used, never required


# the real binary --------------------------------------------------------------------------------


def test_a_syntax_error_in_a_module_names_its_file_and_line(
    terraform_env: TerraformKit, tmp_path: Path
) -> None:
    root, module = tmp_path / "terraform/warehouse", tmp_path / "shared/schemas"
    for folder in (root, module):
        folder.mkdir(parents=True)
    (root / "main.tf").write_text('module "schemas" {\n  source = "../../shared/schemas"\n}\n')
    (module / "main.tf").write_text('resource "pg_schema" "b" {\n  name = "x"\n  comment =\n}\n')
    with pytest.raises(TerraformError) as error:
        terraform(root, executable=str(terraform_env.binary)).init()
    assert type(error.value) is TerraformError and error.value.exit_code == 2
    assert (error.value.path, error.value.line) == ("shared/schemas/main.tf", 3)
    assert error.value.message.startswith("terraform/warehouse: Invalid expression: Expected the start")
    assert not (root / ".terraform").exists()  # Terraform's data stays in data_dir


def test_a_missing_provider_and_an_invalid_argument(terraform_env: TerraformKit, tmp_path: Path) -> None:
    root = tmp_path / "terraform/warehouse"
    root.mkdir(parents=True)
    (root / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        f'    pg   = {{ source = "{SOURCE}" }}\n'
        '    nope = { source = "tidegate.test/test/nope", version = "1.0.0" }\n'
        "  }\n}\n"
    )
    runner = terraform(root, executable=str(terraform_env.binary))
    with pytest.raises(TerraformError) as error:
        runner.init()
    assert (error.value.path, error.value.line, error.value.hint) == (
        "terraform/warehouse/main.tf",
        4,
        PROVIDER_HINT,
    )
    assert "provider tidegate.test/test/nope was not found" in error.value.message
    (root / "main.tf").write_text(
        f'terraform {{\n  required_providers {{\n    pg = {{ source = "{SOURCE}" }}\n  }}\n}}\n\n'
        'resource "pg_schema" "a" {\n  name  = "a"\n  owner = "me"\n}\n'
    )
    runner.init()
    with pytest.raises(TerraformError) as error:
        runner.validate()
    assert (error.value.path, error.value.line) == ("terraform/warehouse/main.tf", 9)
    assert 'Unsupported argument: An argument named "owner" is not expected here.' in error.value.message
    (root / "main.tf").write_text((root / "main.tf").read_text().replace('  owner = "me"\n', "") + "\n\n")
    assert runner.validate() == []
    assert runner.unformatted() == ["main.tf"]


# finding the binary -----------------------------------------------------------------------------


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_find_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tofu, terraform_ = executable(tmp_path / "a/tofu"), executable(tmp_path / "b/terraform")
    project = tmp_path / "project"
    monkeypatch.setenv("PATH", f"{tofu.parent}{os.pathsep}{terraform_.parent}")
    assert find_binary(None, project) == str(tofu)  # tofu first
    assert find_binary("terraform", project) == str(terraform_)
    bundled = executable(project / "bin/terraform")
    assert find_binary("bin/terraform", project) == str(bundled)  # relative to the project
    assert find_binary("./bin/terraform", project) == str(project / "./bin/terraform")
    assert find_binary(str(terraform_), project) == str(terraform_)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_binary("~/b/terraform", project) == str(terraform_)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TerraformError, match="b/tofu is not an executable file") as error:
        find_binary("b/tofu", project)  # not looked for in the working directory
    assert error.value.path == "tidegate.yml"
    (project / "bin/terraform").chmod(0o644)
    with pytest.raises(TerraformError, match="not an executable file"):
        find_binary("bin/terraform", project)
    tofu.unlink()
    assert find_binary(None, project) == str(terraform_)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv/bin/python"))
    with pytest.raises(TerraformError, match="tofu or terraform is not on PATH") as error:
        find_binary(None, project)
    assert error.value.hint and "terraform: binary:" in error.value.hint
    installed = executable(tmp_path / "venv/bin/terraform")  # beside tidegate's own Python
    assert find_binary(None, project) == str(installed)


def test_a_binary_that_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(TerraformError, match="terraform/warehouse: cannot run /nowhere/terraform"):
        terraform(tmp_path, executable="/nowhere/terraform").init()


def test_stale_plan_is_a_terraform_error_with_exit_1() -> None:
    assert issubclass(StalePlan, TerraformError) and StalePlan("x").exit_code == 1
