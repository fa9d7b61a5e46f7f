"""Orchestration: Airflow DAG files checked (`dags_check`), released atomically (`release`),
generated from the model graph (`generate`, `tasks`); Databricks jobs run at a commit."""
