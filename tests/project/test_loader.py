"""Loading a project: Python models, seeds, dashboards, names and the errors of each."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tidegate.errors import ConfigError, ProjectError, TidegateError
from tidegate.graph import Graph, fingerprint_project
from tidegate.project import Project
from tidegate.project.model import Kind, Language

Load = Callable[..., Project]
LoadError = Callable[..., TidegateError]

UPSTREAM = {
    "models/orders.sql": "select 1 as id, 2 as customer_id",
    "models/customers.sql": "select 2 as id",
}
PYTHON_MODEL = '''\
"""Orders joined to customers."""

config = {"schema": "science", "tags": ["ml"]}


def model(orders, customers):
    """The join."""
    return orders.join(customers, "customer_id = id")
'''


def test_python_model_parameters_are_its_refs(load: Load) -> None:
    project = load({**UPSTREAM, "models/scored.py": PYTHON_MODEL})
    model = project.model("scored")
    assert (model.kind, model.language, model.refs) == (Kind.TABLE, Language.PYTHON, ("orders", "customers"))
    assert (model.schema, model.tags) == ("science", ("ml",))
    assert "The join" not in model.python_source and "orders.join" in model.python_source


def test_python_docstrings_comments_and_formatting_do_not_change_the_fingerprint(load: Load) -> None:
    def data_fingerprint(source: str) -> str:
        project = load({**UPSTREAM, "models/scored.py": source})
        return fingerprint_project(Graph(project.models))["scored"].data

    before = data_fingerprint(PYTHON_MODEL)
    reformatted = '''\
config = {'schema': 'science',
          'tags': ['ml']}   # a comment

def model(orders, customers):
    """Another docstring, longer than the first one."""
    # join them
    return orders.join(customers,
                       'customer_id = id')
'''
    assert data_fingerprint(reformatted) == before
    assert data_fingerprint(PYTHON_MODEL.replace("customer_id = id", "customer_id = id + 1")) != before


def test_python_unknown_parameter_is_an_unknown_ref(load_error: LoadError) -> None:
    error = load_error(
        {**UPSTREAM, "models/scored.py": "import os\n\n\ndef model(orders, clients):\n    return orders\n"}
    )
    assert (error.path, error.line, error.model) == ("models/scored.py", 4, "scored")
    assert "ref('clients')" in error.message


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("def model(orders):\n    return orders +\n", 2, ["Python syntax error"]),
        ("def transform(orders):\n    return orders\n", None, ["model(...)"]),
        ("import os\nconfig = {'schema': os.environ['S']}\ndef model():\n    pass\n", 2, ["literal"]),
        ("config = ['schema']\ndef model():\n    pass\n", 1, ["must be a dict"]),
    ],
)
def test_python_model_errors(load_error: LoadError, source: str, line: int | None, words: list[str]) -> None:
    error = load_error({**UPSTREAM, "models/scored.py": source}, expected=ProjectError)
    assert (error.path, error.line, error.model) == ("models/scored.py", line, "scored")
    for word in words:
        assert word in error.message


def test_seeds_are_hashed_and_typed(load: Load) -> None:
    content = "code,rate\nfr,0.2\nde,0.19\n"
    project = load(
        {
            "seeds/vat.csv": content,
            "seeds/vat.yml": "seeds:\n  - name: vat\n    config:\n      column_types: {rate: 'decimal(5, 2)', code: varchar}\n",
        }
    )
    seed = project.model("vat")
    assert (seed.kind, seed.language) == (Kind.SEED, Language.CSV)
    assert seed.seed_hash == hashlib.sha256(content.encode()).hexdigest()
    assert seed.column_types == (("code", "varchar"), ("rate", "decimal(5, 2)"))


def test_seed_column_types_must_be_a_mapping(load_error: LoadError) -> None:
    error = load_error(
        {
            "seeds/vat.csv": "a\n1\n",
            "seeds/vat.yml": "seeds:\n  - name: vat\n    config: {column_types: [a]}\n",
        },
        expected=ConfigError,
    )
    assert (error.path, error.line) == ("seeds/vat.yml", 2)  # where it is declared


DASHBOARD = """
dashboards:
  - name: revenue
    description: Money.
    owner: {name: Ana, email: ana@example.com}
    url: https://bi.example.com/1
    queries:
      - name: by_customer
        sql: |
          select customer_id, count(*)
          from {{ ref('orders') }}
          group by 1
      - sql: select * from {{ ref('customers') }} where id = {{ var('vip', 2) }}
"""


def test_dashboards_render_their_queries_and_know_their_refs(load: Load) -> None:
    (dashboard,) = load({**UPSTREAM, "dashboards/revenue.yml": DASHBOARD}).dashboards
    assert (dashboard.name, dashboard.description, dashboard.owner) == (
        "revenue",
        "Money.",
        "ana@example.com",
    )
    assert (dashboard.url, str(dashboard.location)) == (
        "https://bi.example.com/1",
        "dashboards/revenue.yml:2",
    )
    first, second = dashboard.queries
    assert (first.name, first.refs) == ("by_customer", ("orders",))
    assert first.sql == "SELECT customer_id, COUNT(*) FROM __tgref__orders GROUP BY 1"
    assert (second.name, second.sql) == ("query_2", "SELECT * FROM __tgref__customers WHERE id = 2")
    assert dashboard.refs == ("customers", "orders")


@pytest.mark.parametrize(
    ("replace", "by", "line", "words"),
    [
        ("ref('orders')", "ref('orderz')", 10, ["ref('orderz')", "did you mean 'orders'"]),
        ("group by 1", "group by {{ nope }}", 11, ["'nope' is undefined"]),
        ("group by 1", "group by (1,", 11, ["SQL syntax error"]),
        ("ref('customers')", "ref('clients')", 12, ["ref('clients')"]),
        ("{{ var('vip', 2) }}", "{{ var('vip') }}", 12, ["var('vip')"]),
        ("      - sql: select", "      - sq: select", 12, ["needs sql"]),
        ("  - name: revenue", "  - title: revenue", 2, ["needs a name"]),
    ],
)
def test_dashboard_errors_point_into_the_yaml_file(
    load_error: LoadError, replace: str, by: str, line: int, words: list[str]
) -> None:
    assert replace in DASHBOARD
    error = load_error({**UPSTREAM, "dashboards/revenue.yml": DASHBOARD.replace(replace, by)})
    assert (error.path, error.line) == ("dashboards/revenue.yml", line)
    for word in words:
        assert word in str(error)


def test_two_dashboards_with_one_name_is_an_error(load_error: LoadError) -> None:
    error = load_error(
        {
            "dashboards/a.yml": "dashboards:\n  - name: kpis\n",
            "dashboards/b.yml": "dashboards:\n\n  - name: kpis\n",
        },
        expected=ConfigError,
    )
    assert (error.path, error.line) == ("dashboards/b.yml", 3)
    assert "dashboards/a.yml:2" in error.message


def test_a_dashboards_file_needs_a_list(load_error: LoadError) -> None:
    error = load_error({"dashboards/a.yml": "name: kpis\n"}, expected=ConfigError)
    assert (error.path, error.line) == ("dashboards/a.yml", 1)


@pytest.mark.parametrize(
    ("files", "path", "words"),
    [
        (
            {"models/a.sql": "select 1", "models/sub/a.sql": "select 2"},
            "models/sub/a.sql",
            ["two models", "models/a.sql"],
        ),
        (
            {"seeds/a.csv": "x\n1\n", "models/a.sql": "select 1"},
            "models/a.sql",
            ["two models", "seeds/a.csv"],
        ),
        (
            {
                "models/a.sql": "select 1",
                "models/b.py": "def model():\n    pass\n",
                "models/b.sql": "select 1",
            },
            "models/b.py",
            ["two models"],
        ),
        (
            {"models/Orders.sql": "select 1", "models/sub/orders.sql": "select 2"},
            "models/sub/orders.sql",
            ["two models"],
        ),
        ({"models/my-model.sql": "select 1"}, "models/my-model.sql", ["not a valid model name"]),
    ],
)
def test_model_names_must_be_unique_identifiers(
    load_error: LoadError, files: dict[str, str], path: str, words: list[str]
) -> None:
    error = load_error(files, expected=ProjectError)
    assert error.path == path
    for word in words:
        assert word in error.message


def test_project_model_lookup(load: Load) -> None:
    project = load(UPSTREAM)
    assert project.name == "test" and project.dialect == "duckdb"
    assert project.model("orders").location.path == "models/orders.sql"
    with pytest.raises(ProjectError, match="no model named 'nope'"):
        project.model("nope")


def test_model_paths_from_the_config_are_read(load: Load) -> None:
    config = "name: t\nmodel_paths: [transform, more]\nseed_paths: [data]\n"
    project = load(
        {
            "transform/a.sql": "select 1 as x",
            "more/b.sql": "select * from {{ ref('c') }}",
            "data/c.csv": "x\n1\n",
        },
        config,
    )
    assert set(project.models) == {"a", "b", "c"}


def test_the_shop_example_loads(tmp_path: Path) -> None:
    """The example `tidegate init --example shop` writes must always be a valid project (loaded
    from a copy: loading writes a cache beside the project, never into the package)."""
    from tidegate.project import load_project
    from tidegate.project.scaffold import create_project

    create_project(tmp_path / "shop", "shop")
    project = load_project(tmp_path / "shop")
    assert len(project.models) >= 20 and project.dashboards and project.unit_tests
    Graph(project.models)


def test_model_names_that_differ_only_in_case_are_one_relation(load_error: LoadError) -> None:
    """Refs and relations are case-insensitive: `Orders` and `orders` would be the same table."""
    error = load_error(
        {
            "seeds/Orders.csv": "id\n1\n",
            "models/a.sql": "select 1 as id",
            "models/orders.sql": "select 1 as id",
        },
        expected=ProjectError,
    )
    assert error.message == "two models are named 'orders' (also seeds/Orders.csv)"
    assert (error.path, error.model) == ("models/orders.sql", "orders")


def test_a_model_schema_that_could_collide_with_internal_schemas_is_refused(load_error) -> None:
    """`tidegate__x` holds snapshots and `<schema>__<env>` views: a model schema may be neither."""
    error = load_error({"models/a.sql": "{{ config(schema='tidegate_x') }} select 1 as id"})
    assert "reserved" in str(error) and error.path == "models/a.sql"
