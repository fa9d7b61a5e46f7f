"""Fingerprints: what identifies a model's data, and separately its metadata.

The data fingerprint hashes the normalized query (so formatting and comments do not count), the
kind and data-relevant configuration, and the data fingerprints of the parents. Descriptions,
tags and owners only change the metadata fingerprint, which never causes a rebuild.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from tidegate.graph.dag import Graph
from tidegate.project.model import Language, Model

FINGERPRINT_VERSION = "1"


@dataclass(frozen=True)
class Fingerprint:
    data: str
    metadata: str


def _digest(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def query_hash(model: Model) -> str:
    """The model's own definition, without its parents."""
    body: object
    if model.language is Language.CSV:
        body = model.seed_hash
    elif model.language is Language.PYTHON:
        body = model.python_source
    else:
        # the values env_var() read are masked in the SQL: their hashes stand for them, written
        # only when there are some, so that other fingerprints stay what they were
        values = [[list(pair) for pair in model.env_digests]] if model.env_digests else []
        body = [model.sql, model.incremental_sql, *values]
    return _digest([FINGERPRINT_VERSION, body, model.data_config])


def metadata_hash(model: Model) -> str:
    return _digest(
        [
            model.description,
            [[c.name, c.description, c.data_type] for c in model.columns],
            list(model.tags),
            model.owner,
        ]
    )


def fingerprint_project(graph: Graph) -> dict[str, Fingerprint]:
    """Fingerprints of every model, computed parents first."""
    result: dict[str, Fingerprint] = {}
    for name in graph.order:
        model = graph.models[name]
        parents = sorted((parent, result[parent].data) for parent in set(graph.parents[name]))
        # an alias (dbt's) moves the model's view; written only when set, so that fingerprints
        # of models without one stay what they were
        relation = [model.schema, *([model.alias] if model.alias else [])]
        result[name] = Fingerprint(
            data=_digest([query_hash(model), *relation, parents]), metadata=metadata_hash(model)
        )
    return result
