"""Terraform and OpenTofu: real `.tf` roots planned in CI and applied by deploy, and the
hand-over of `infra/*.yml` to Terraform.

- `roots`: which roots a change touches, and the content key of a reviewed plan;
- `binary`: running Terraform on one root, its diagnostics as tidegate's errors;
- `plans`: reading plans' JSON, redacting sensitive values;
- `workflow`: plan for review, apply what was reviewed, drift;
- `export`: `infra/*.yml` as a `.tf.json` document (`tidegate infra export --format terraform`).
"""
