"""Reading Terraform's files (`.tf`, `.tfvars`, OpenTofu's `.tofu`, and their `.json` forms) as
far as tidegate needs: which blocks they hold. python-hcl2 keeps the quotes of labels and
strings; these helpers take them off. A file that does not parse is None here: Terraform reports
it, with its line, when it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read(file: Path) -> dict[str, Any] | None:
    """A file's document, or None when it cannot be read or does not parse."""
    try:
        return parse(file.read_text(encoding="utf-8"), json_syntax=file.name.endswith(".json"))
    except (OSError, ValueError):  # unreadable, or not text
        return None


def parse(text: str, *, json_syntax: bool = False) -> dict[str, Any] | None:
    try:
        if json_syntax:
            document = json.loads(text)
        else:
            import hcl2

            document = hcl2.loads(text)
    except Exception:  # any parse failure: Terraform reports it, with its line
        return None
    return document if isinstance(document, dict) else None


def entries(value: Any) -> list[Any]:
    """A block's entries whether written once (a mapping, as JSON does) or many times (a list)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def labelled(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """The (label, body) pairs of labelled blocks (`variable "x" {}`, `backend "s3" {}`),
    labels unquoted."""
    return [
        (label.strip('"'), body if isinstance(body, dict) else {})
        for entry in entries(value)
        if isinstance(entry, dict)
        for label, body in entry.items()
    ]
