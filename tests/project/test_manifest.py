"""Loading a dbt project from the `target/manifest.json` dbt wrote (`--manifest`).

The rewriting of compiled SQL back to ref placeholders is tested on its own; the end-to-end tests
run a real `dbt compile` (from `.venv-dbt`, skipped without it unless TIDEGATE_REQUIRE_DBT=1) on a
project that uses run_query, which tidegate's own renderer refuses, and build it with tidegate.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from sqlglot import parse_one

from tests.cli.conftest import invoke
from tests.dbt import parity
from tidegate.context import Context
from tidegate.errors import ConfigError, ProjectError
from tidegate.project.loader import load_project
from tidegate.project.manifest import Relations, relation_key, to_placeholders
from tidegate.project.model import THIS_PLACEHOLDER, Kind, ref_placeholder

# rewriting -------------------------------------------------------------------------------------


def _relations() -> Relations:
    relations = Relations()
    relations.add_model('"dbt"."main"."orders"', "orders", "duckdb")
    relations.add_model('"dbt"."analytics"."customer_totals"', "m_customers", "duckdb")
    relations.sources[relation_key('"dbt"."raw"."payments"', "duckdb")] = ("raw.payments", "raw.payments")
    relations.ephemerals["__dbt__cte__recent"] = "recent"
    return relations


def _rewrite(sql: str, **options: object) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    query = parse_one(sql, read="duckdb")
    done = to_placeholders(query, _relations(), **options)  # type: ignore[arg-type]
    return done.query.sql("duckdb"), done.refs, done.sources


def test_relations_become_placeholders_with_or_without_database_and_quotes() -> None:
    sql, refs, sources = _rewrite(
        'select o.id, customer_totals.total from "dbt"."main"."orders" as o '
        "join dbt.analytics.customer_totals on customer_totals.id = o.customer_id "
        'join "analytics"."customer_totals" c2 using (id) join raw.payments p using (id)'
    )
    orders, customers = ref_placeholder("orders"), ref_placeholder("m_customers")
    assert sql == (
        f"SELECT o.id, customer_totals.total FROM {orders} AS o "
        f"JOIN {customers} AS customer_totals ON customer_totals.id = o.customer_id "
        f"JOIN {customers} AS c2 USING (id) JOIN raw.payments AS p USING (id)"
    )
    assert refs == ("orders", "m_customers")
    assert sources == ("raw.payments",)


def test_other_tables_and_ctes_stay() -> None:
    sql, refs, _ = _rewrite(
        'with orders as (select 1 as id) select * from orders join "other_db"."main"."orders" x using (id) '
        "join main.elsewhere using (id)"
    )
    assert sql == (
        'WITH orders AS (SELECT 1 AS id) SELECT * FROM orders JOIN "other_db"."main"."orders" AS x USING (id) '
        "JOIN main.elsewhere USING (id)"
    )
    assert refs == ()


def test_ephemeral_ctes_dbt_inlined_become_refs() -> None:
    sql, refs, _ = _rewrite(
        'with __dbt__cte__recent as (select * from "dbt"."main"."orders" where id > 2), '
        "totals as (select count(*) as n from __dbt__cte__recent) "
        "select * from totals, __dbt__cte__recent r"
    )
    recent = ref_placeholder("recent")
    assert sql == (
        f"WITH totals AS (SELECT COUNT(*) AS n FROM {recent} AS __dbt__cte__recent) "
        f"SELECT * FROM totals, {recent} AS r"
    )
    assert refs == ("recent",)  # the ephemeral's own refs are its own

    sql, refs, _ = _rewrite("with __dbt__cte__recent as (select 1 as id) select * from __dbt__cte__recent")
    assert sql == f"SELECT * FROM {recent} AS __dbt__cte__recent"


def test_the_models_own_relation_is_this() -> None:
    sql, refs, _ = _rewrite(
        'select * from "dbt"."main"."orders" where id > (select max(id) from "dbt"."main"."orders")',
        this=relation_key('"dbt"."main"."orders"', "duckdb"),
    )
    assert (
        sql
        == f'SELECT * FROM {THIS_PLACEHOLDER} AS "orders" WHERE id > (SELECT MAX(id) FROM {THIS_PLACEHOLDER} AS "orders")'
    )
    assert refs == ()


def test_an_ambiguous_schema_and_name_stays() -> None:
    relations = _relations()
    relations.add_model('"other"."main"."orders"', "other_orders", "duckdb")
    done = to_placeholders(parse_one("select * from main.orders", read="duckdb"), relations)
    assert done.query.sql("duckdb") == "SELECT * FROM main.orders" and done.refs == ()


# a real manifest -------------------------------------------------------------------------------

FILES = {
    "dbt_project.yml": "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n"
    "models:\n  shop:\n    +materialized: table\n",
    "seeds/people.csv": "id,kind,amount\n1,a,10\n2,b,20\n3,a,5\n4,c,7\n",
    "macros/kinds.sql": "{% macro kinds() %}\n"
    "{% if execute %}{{ return(run_query(\"select kind from (values ('a'), ('b')) as t(kind) "
    'where exists (select 1 from information_schema.schemata) order by 1").columns[0].values()) }}'
    "{% else %}{{ return([]) }}{% endif %}\n{% endmacro %}\n",
    "models/stg_people.sql": "{{ config(materialized='view') }}\nselect * from {{ ref('people') }}",
    "models/recent.sql": "{{ config(materialized='ephemeral') }}\nselect * from {{ ref('stg_people') }} where id > 1",
    "models/by_kind.sql": "{{ config(schema='marts', alias='kind_totals') }}\nselect\n"
    "{% for kind in kinds() %}  sum(case when kind = '{{ kind }}' then amount else 0 end) as {{ kind }}_amount,\n"
    "{% endfor %}  count(*) as people\nfrom {{ ref('recent') }}",
    "models/schema.yml": "version: 2\nmodels:\n  - name: stg_people\n    columns:\n"
    "      - name: id\n        data_tests: [unique, not_null]\n"
    "      - name: kind\n        data_tests:\n          - accepted_values:\n"
    "              arguments: {values: [a, b]}\n              config: {severity: warn}\n",
    "tests/positive.sql": "select * from {{ ref('by_kind') }} where people <= 0",
    "models/exposures.yml": "version: 2\nexposures:\n  - name: kinds_board\n    type: dashboard\n"
    "    owner: {name: Ada}\n    depends_on: [\"ref('by_kind')\", \"ref('people')\"]\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    profile = {"shop": {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": "shop.duckdb"}}}}
    (root / "profiles.yml").write_text(json.dumps(profile))


@pytest.fixture
def compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project above and the manifest of a real `dbt compile`."""
    return _compiled(tmp_path, monkeypatch, FILES)


def _compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> Path:
    if not parity.dbt_available():
        message = f"dbt is not installed in {parity.DBT_VENV} (run `make .venv-dbt`)"
        if os.environ.get("TIDEGATE_REQUIRE_DBT") == "1":
            pytest.fail(message + "; TIDEGATE_REQUIRE_DBT=1")
        pytest.skip(message)
    root = tmp_path / "shop"
    root.mkdir()
    _write(root, files)
    compile_dir = tmp_path / "compile"  # dbt compiles against its own scratch warehouse
    compile_dir.mkdir()
    parity.write_profiles(compile_dir, compile_dir / "scratch.duckdb")
    (compile_dir / "profiles.yml").write_text(
        (compile_dir / "profiles.yml").read_text().replace(parity.PROFILE, "shop")
    )
    parity.run_dbt("compile", root, compile_dir, {}, "the test project")
    monkeypatch.setenv("DBT_PROFILES_DIR", str(root))
    return root


def test_a_project_tidegate_refuses_builds_from_the_manifest(compiled: Path) -> None:
    with pytest.raises(ProjectError, match="run_query"):
        load_project(compiled)
    project = load_project(compiled, manifest="target/manifest.json")
    by_kind = project.models["by_kind"]
    assert (by_kind.schema, by_kind.alias, by_kind.kind) == ("main_marts", "kind_totals", Kind.TABLE)
    assert by_kind.refs == ("recent",) and project.models["recent"].kind is Kind.EPHEMERAL
    assert project.models["stg_people"].refs == ("people",)
    assert project.models["people"].kind is Kind.SEED
    assert [(e.name, e.refs) for e in project.exposures] == [("kinds_board", ("by_kind", "people"))]
    tests = {test.name: test for test in project.tests}
    assert (
        tests["positive"].models == ("by_kind",) and tests["positive"].location.path == "tests/positive.sql"
    )
    accepted = tests["accepted_values_stg_people_kind__a__b"]
    assert accepted.severity == "warn" and accepted.column == "kind" and accepted.models == ("stg_people",)

    with Context(compiled, manifest=compiled / "target" / "manifest.json") as context:
        _, result = context.plan_and_apply("prod")
        assert result is not None
        rows = context.query("prod", "select a_amount, b_amount, people from kind_totals").rows
        assert [tuple(row) for row in rows] == [(5, 20, 3)]
        results = {test.name: test for test in result.tests}
        assert not results["accepted_values_stg_people_kind__a__b"].passed  # 'c': a warning
        assert results["positive"].passed and results["unique_stg_people_id"].passed
        fingerprints = dict(context.fingerprints)
    with Context(compiled, manifest="target/manifest.json") as context:
        assert context.fingerprints == fingerprints  # loading is deterministic
        assert not context.plan("prod").has_changes


def test_the_command_line_takes_the_manifest(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = compiled / "target" / "manifest.json"
    ran = invoke(compiled, "plan", "prod", "--auto-apply", "--manifest", str(manifest))
    assert ran.code == 0, ran.all
    monkeypatch.setenv("TIDEGATE_DBT_MANIFEST", str(manifest))
    ran = invoke(compiled, "test", "prod")
    assert ran.code == 0, ran.all
    assert "1 warned, 0 failed" in ran.all
    assert invoke(compiled, "test", "prod", "--manifest", str(compiled / "nope.json")).code == 2


def test_a_manifest_older_than_the_files_is_refused(compiled: Path) -> None:
    model = compiled / "models" / "stg_people.sql"
    model.write_text(model.read_text() + "\nwhere id > 0")
    with pytest.raises(
        ProjectError, match=re.escape("models/stg_people.sql changed since dbt compiled it")
    ) as info:
        load_project(compiled, manifest="target/manifest.json")
    assert info.value.hint and "dbt compile" in info.value.hint
    model.write_text(FILES["models/stg_people.sql"])
    load_project(compiled, manifest="target/manifest.json")

    (compiled / "models" / "new.sql").write_text("select 1 as x")
    with pytest.raises(ProjectError, match=re.escape("models/new.sql is not in the manifest")):
        load_project(compiled, manifest="target/manifest.json")
    (compiled / "models" / "new.sql").unlink()

    macro = compiled / "macros" / "kinds.sql"
    macro.write_text(macro.read_text().replace("order by 1", "order by 1 desc"))
    with pytest.raises(ProjectError, match=re.escape("macros/kinds.sql changed")):
        load_project(compiled, manifest="target/manifest.json")
    macro.write_text(FILES["macros/kinds.sql"])

    properties = compiled / "models" / "schema.yml"
    later = time.time() + 10
    os.utime(properties, (later, later))
    with pytest.raises(ProjectError, match=re.escape("models/schema.yml was changed after the manifest")):
        load_project(compiled, manifest="target/manifest.json")


def test_vars_and_a_missing_manifest_are_refused(compiled: Path) -> None:
    with pytest.raises(ConfigError, match="dbt compiled the variables in"):
        load_project(compiled, manifest="target/manifest.json", variables={"x": 1})
    with pytest.raises(ConfigError, match="no dbt manifest"):
        load_project(compiled, manifest="target/other.json")


SNAPSHOT = {
    "dbt_project.yml": "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n",
    "seeds/people.csv": "id,kind,updated_at\n1,a,2024-01-01\n2,b,2024-01-02\n",
    "snapshots/people_history.sql": "{% snapshot people_history %}\n"
    "{{ config(target_schema='history', unique_key='id', strategy='timestamp', updated_at='updated_at',"
    " hard_deletes='invalidate') }}\nselect * from {{ ref('people') }}\n{% endsnapshot %}\n",
    "models/current.sql": "select id, kind from {{ ref('people_history') }} where dbt_valid_to is null",
}


def test_snapshots_load_from_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project tidegate cannot render may have dbt snapshots: the manifest has their compiled
    query and configs (with every `snapshot_meta_column_names` entry, unset ones null)."""
    root = _compiled(tmp_path, monkeypatch, SNAPSHOT)
    project = load_project(root, manifest="target/manifest.json")
    history = project.models["people_history"]
    assert (history.kind, history.schema, history.refs) == (Kind.SCD2, "history", ("people",))
    assert history.scd2 is not None and history.scd2.hard_deletes == "invalidate"
    assert history.scd2.updated_at == "updated_at" and history.unique_key == ("id",)
    with Context(root, manifest="target/manifest.json") as context:
        context.plan_and_apply("prod")
        assert context.query("prod", "select count(*) from main.current").rows == [(2,)]


def test_incremental_models_are_judged_as_when_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest's incremental models follow the rules of a rendered dbt project: without a
    unique_key dbt's default strategy appends; a config that merges part of a row is refused."""
    appending = {**SNAPSHOT, "models/events.sql": "{{ config(materialized='incremental') }}\nselect 1 as id"}
    (tmp_path / "appending").mkdir()
    root = _compiled(tmp_path / "appending", monkeypatch, appending)
    compiled, rendered = load_project(root, manifest="target/manifest.json"), load_project(root)
    assert compiled.models["events"].incremental_strategy == "append"
    assert rendered.models["events"].incremental_strategy == "append"
    assert compiled.models["people"].data_config == rendered.models["people"].data_config

    partial = {
        **SNAPSHOT,
        "models/events.sql": "{{ config(materialized='incremental', unique_key='id', "
        "incremental_predicates=['id > 0']) }}\nselect 1 as id",
    }
    (tmp_path / "partial").mkdir()
    root = _compiled(tmp_path / "partial", monkeypatch, partial)
    for manifest in ("target/manifest.json", None):
        with pytest.raises(ProjectError, match="incremental_predicates is not supported"):
            load_project(root, manifest=manifest)
