"""Warehouse infrastructure as code: `infra/*.yml` declares databases, schemas, roles, users and
grants per environment; tidegate reads the live catalog, plans the difference and applies it.

- `resources`: the resource values every other module shares;
- `files`: reading and validating `infra/*.yml` for one environment;
- `catalog`: what a warehouse has (PostgreSQL, DuckDB, a saved state file);
- `diff`: desired against actual, as a plan of changes with their safety;
- `dialects`: the statements of a plan, one module per dialect (PostgreSQL, DuckDB, Snowflake);
- `apply`, `terraform`: applying plans, and handing over to or reading from Terraform.
"""

STATE_FILE_DIALECTS = ("postgres", "snowflake")
"""The dialects a saved state file can be planned in (`infra plan --dialect --state`): a DuckDB
plan needs the warehouse's databases folder, which only the live warehouse knows. Here, not in
`dialects`, so that the command line names them without importing every dialect."""
