"""Filling the text templates of pipeline files: `<<field>>`s, YAML scalars and lists, job names."""

from __future__ import annotations

import json
import re
from collections import Counter

from tidegate.project.ci_files.settings import Deployment

_FIELD = re.compile(r"<<(\w+)>>")


def fill(template: str, **values: str) -> str:
    return _FIELD.sub(lambda match: values[match.group(1)], template)


def scalar(command: str) -> str:
    """`command` as a YAML plain scalar, or double-quoted where a plain one would be cut short."""
    return json.dumps(command) if ": " in command or " #" in command else command


def yaml_list(items: tuple[str, ...]) -> str:
    """A flow sequence of double-quoted strings (JSON strings are YAML strings)."""
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def job_names(prefix: str, deployments: tuple[Deployment, ...]) -> list[tuple[str, Deployment]]:
    """A job name per deployment: `<prefix>-<environment>`, numbered when two branches deploy
    one environment."""
    counts = Counter(deployment.environment for deployment in deployments)
    return [
        (
            f"{prefix}-{d.environment}" + (f"-{index}" if counts[d.environment] > 1 else ""),
            d,
        )
        for index, d in enumerate(deployments, 1)
    ]
