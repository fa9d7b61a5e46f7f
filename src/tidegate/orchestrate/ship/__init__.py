"""Shipping DAG files to where a scheduler reads them: a local folder, S3 (MWAA) or GCS (Cloud
Composer). `targets.ship` is the entry point; `sync` holds the upload order object stores need."""
