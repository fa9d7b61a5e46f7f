"""What a deployment's other steps read from the environment, so that its CI job is given it:
the DAG target's cloud credentials (the clients' usual variables), the `${VAR}`s of the target
(Airflow's API token), Databricks' host and token, and Terraform's `TF_VAR_`s and `TF_TOKEN_`s.

Read from the files alone (tidegate.yml, `databricks/jobs/`, the Terraform roots' `.tf` files),
without running anything: `init --ci` works before any credential exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidegate.project import hcl
from tidegate.project.config import ProjectConfig
from tidegate.project.shipping import TerraformRoot

AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
GOOGLE = "GOOGLE_APPLICATION_CREDENTIALS"
"""A path to a service account's key file: the pipeline writes the file from a secret."""
DATABRICKS = ("DATABRICKS_HOST", "DATABRICKS_TOKEN")
_BACKEND_STORES = {"s3": "s3://", "gcs": "gs://"}
"""State backends whose credentials are those of an object store."""
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class DeployNeeds:
    variables: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()
    """Variables that hold the path of a credentials file (GitLab: a File variable)."""
    extras: frozenset[str] = frozenset()
    """tidegate's pip extras the steps need (s3, gcs)."""

    def __or__(self, other: DeployNeeds) -> DeployNeeds:
        return DeployNeeds(
            self.variables | other.variables, self.files | other.files, self.extras | other.extras
        )


def deploy_needs(project_dir: Path, config: ProjectConfig, environment: str) -> DeployNeeds:
    needs = _dag_target(config, environment) | _databricks(project_dir, config, environment)
    for root in config.terraform.roots:
        if root.environment == environment:
            needs |= _terraform(project_dir, root)
    return needs


def _store(url: str) -> DeployNeeds:
    """The credentials of the object store an `s3://` or `gs://` URL is in."""
    if url.startswith("s3://"):
        return DeployNeeds(frozenset(AWS), extras=frozenset({"s3"}))
    if url.startswith("gs://"):
        return DeployNeeds(files=frozenset({GOOGLE}), extras=frozenset({"gcs"}))
    return DeployNeeds()


def _dag_target(config: ProjectConfig, environment: str) -> DeployNeeds:
    target = config.orchestration.airflow.targets.get(environment)
    if target is None:
        return DeployNeeds()
    refs = {
        name for text in (target.to, target.api_url, target.token) if text for name in _ENV_REF.findall(text)
    }
    return _store(target.to) | DeployNeeds(frozenset(refs))


def _databricks(project_dir: Path, config: ProjectConfig, environment: str) -> DeployNeeds:
    """Databricks' host and token where deploy resets jobs (`databricks/jobs/*.yml`, in the jobs'
    environments) or moves a workspace repo of this environment (`databricks: repos:`)."""
    jobs = any((project_dir / config.databricks.jobs.path).glob("*.yml"))
    shipped = jobs and environment in config.databricks_job_environments()
    if shipped or any(repo.environment == environment for repo in config.databricks.repos):
        return DeployNeeds(frozenset(DATABRICKS))
    return DeployNeeds()


def _terraform(project_dir: Path, root: TerraformRoot) -> DeployNeeds:
    """`TF_VAR_name` for each input variable without a default that neither `vars:` nor a
    variables file sets, and the credentials of the root's state backend."""
    folder = project_dir / root.path
    documents = [
        (hcl.read(file) or {}) for pattern in ("*.tf", "*.tf.json") for file in sorted(folder.glob(pattern))
    ]
    given = set(root.vars)
    for name in [*root.var_files, *(f.name for f in sorted(folder.glob("*.auto.tfvars*")))]:
        given |= set(hcl.read(folder / name) or {})
    variables = {
        f"TF_VAR_{name}"
        for document in documents
        for name, body in hcl.labelled(document.get("variable"))
        if "default" not in body and name not in given
    }
    needs = DeployNeeds(frozenset(variables))
    for document in documents:
        for block in hcl.entries(document.get("terraform")):
            for cloud in hcl.entries(block.get("cloud")) if isinstance(block, dict) else []:
                needs |= _token(cloud)
            for kind, body in hcl.labelled(block.get("backend") if isinstance(block, dict) else None):
                needs |= _token(body) if kind == "remote" else _store(_BACKEND_STORES.get(kind, ""))
    return needs


def _token(body: dict[str, Any]) -> DeployNeeds:
    """`TF_TOKEN_<host>` of an HCP Terraform (or Terraform Enterprise) host."""
    host = str(body.get("hostname", "app.terraform.io")).strip('"')
    return DeployNeeds(frozenset({"TF_TOKEN_" + host.replace("-", "__").replace(".", "_")}))
