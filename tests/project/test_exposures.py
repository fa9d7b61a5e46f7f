"""dbt exposures in properties YAML: read, validated as dbt validates them, their dependencies checked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tidegate.errors import ConfigError, ProjectError, TidegateError
from tidegate.project import Project

Load = Callable[..., Project]
LoadError = Callable[..., TidegateError]

FILES = {
    "seeds/raw_orders.csv": "id,amount\n1,10\n",
    "models/orders.sql": "select id, amount from {{ ref('raw_orders') }}",
    "models/retired.sql": "{{ config(enabled=false) }} select 1 as id",
    "models/sources.yml": """
        version: 2
        sources:
          - name: shop
            schema: raw
            tables:
              - name: payments
              - name: refunds
                config: {enabled: false}
    """,
}
EXPOSURES = """
version: 2
exposures:
  - name: weekly_kpis
    label: Weekly KPIs
    type: dashboard
    maturity: high
    url: https://bi.example.com/dashboards/7
    description: The numbers the board reads on Mondays.
    tags: [finance]
    depends_on:
      - ref('orders')
      - ref('shop_project', 'raw_orders')
      - source('shop', 'payments')
      - metric('revenue')
    owner:
      name: Ada
      email: ada@example.com
  - name: churn_model
    type: ml
    owner: {email: ml@example.com}
    depends_on: ["ref('orders')"]
  - name: old_report
    type: analysis
    owner: {name: Bob}
    config: {enabled: false}
    depends_on: ["ref('retired')"]
"""


def test_exposures_are_read_with_their_owner_url_and_dependencies(load: Load) -> None:
    project = load({**FILES, "models/exposures.yml": EXPOSURES})
    kpis, churn = project.exposures  # old_report is disabled: not an exposure, its ref not checked
    assert (kpis.name, kpis.type, kpis.maturity, kpis.label) == (
        "weekly_kpis",
        "dashboard",
        "high",
        "Weekly KPIs",
    )
    assert (kpis.owner, kpis.url, str(kpis.location)) == (
        "Ada <ada@example.com>",
        "https://bi.example.com/dashboards/7",
        "models/exposures.yml:3",
    )
    assert kpis.refs == ("orders", "raw_orders")
    assert (kpis.sources, kpis.metrics, kpis.tags) == (("shop.payments",), ("revenue",), ("finance",))
    assert [d.line for d in kpis.depends_on] == [11, 12, 13, 14]
    assert (churn.owner, churn.refs, churn.maturity, churn.url) == ("ml@example.com", ("orders",), None, None)


@pytest.mark.parametrize(
    ("replace", "by", "line", "error", "words"),
    [
        (
            "ref('orders')\n",
            "ref('order')\n",
            11,
            ProjectError,
            ["weekly_kpis", "ref('order')", "names no model", "did you mean ref('orders')"],
        ),
        (
            "ref('orders')\n",
            "ref('retired')\n",
            11,
            ProjectError,
            ["weekly_kpis", "ref('retired')", "disabled", "models/retired.sql"],
        ),
        (
            "source('shop', 'payments')",
            "source('shop', 'payment')",
            13,
            ProjectError,
            ["not declared", "did you mean source('shop', 'payments')"],
        ),
        (
            "source('shop', 'payments')",
            "source('shop', 'refunds')",
            13,
            ProjectError,
            ["source('shop', 'refunds')", "disabled", "models/sources.yml:7"],
        ),
        ("ref('orders')\n", "ref('orders', v=2)\n", 11, ProjectError, ["not a versioned model"]),
        ("ref('orders')\n", "orders\n", 11, ConfigError, ["expected ref('model')", "'orders'"]),
        ("ref('orders')\n", "ref(orders)\n", 11, ConfigError, ["expected ref('model')"]),
        ("source('shop', 'payments')", "source('payments')", 13, ConfigError, ["expected"]),
        ("type: dashboard", "type: website", 5, ConfigError, ["type must be one of dashboard, notebook"]),
        ("maturity: high", "maturity: top", 6, ConfigError, ["maturity must be one of low, medium, high"]),
        ("    owner: {email: ml@example.com}\n", "", 18, ConfigError, ["churn_model", "needs an owner"]),
        (
            "owner: {email: ml@example.com}",
            "owner: {}",
            20,
            ConfigError,
            ["needs an owner with a name or an email"],
        ),
        (
            "name: churn_model",
            "name: weekly_kpis",
            18,
            ConfigError,
            ["two exposures are named 'weekly_kpis'", "models/exposures.yml:3"],
        ),
    ],
)
def test_bad_exposures_are_errors_with_file_and_line(
    load_error: LoadError,
    replace: str,
    by: str,
    line: int,
    error: type[TidegateError],
    words: list[str],
) -> None:
    assert replace in EXPOSURES
    found = load_error({**FILES, "models/exposures.yml": EXPOSURES.replace(replace, by, 1)}, expected=error)
    assert (found.path, found.line) == ("models/exposures.yml", line), found
    for word in words:
        assert word in str(found)


def test_a_ref_to_a_versioned_model_reads_the_version_it_names(load: Load) -> None:
    versions = """
        version: 2
        models:
          - name: orders
            latest_version: 1
            versions: [{v: 1, defined_in: orders}, {v: 2}]
        exposures:
          - name: app
            type: application
            owner: {name: Ada}
            depends_on: ["ref('orders')", "ref('orders', v=2)"]
    """
    project = load({**FILES, "models/orders_v2.sql": "select 2 as id", "models/props.yml": versions})
    (app,) = project.exposures
    assert app.refs == ("orders", "orders_v2")
