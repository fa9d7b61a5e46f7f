"""Loading dbt's hooks and incremental strategies: what is refused, with the file."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tidegate.errors import TidegateError
from tidegate.project.model import THIS_PLACEHOLDER

INCREMENTAL = "{{{{ config(materialized='incremental', {config}) }}}}\nselect 1 as id"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("incremental_strategy='insert_overwrite', unique_key='id'", "one of merge, delete+insert, append"),
        ("incremental_strategy='delete+insert'", "delete+insert strategy needs a unique_key"),
        ("unique_key='id', pre_hook='select * from {{ ref(\"other\") }}'", "ref('other') in a hook"),
        ("unique_key='id', post_hook={'sql': 'select 1', 'transaction': false}", "transaction: false"),
    ],
)
def test_what_tidegate_does_not_run_is_refused_with_the_file(
    load_error: Callable[..., TidegateError], config: str, message: str
) -> None:
    error = load_error(
        {"models/m.sql": INCREMENTAL.format(config=config), "models/other.sql": "select 1 as x"}
    )
    assert message in error.message
    assert error.path == "models/m.sql"


def test_hooks_are_rendered_with_this_as_a_placeholder(load: Callable[..., object]) -> None:
    project = load(
        {
            "models/m.sql": """
                {{ config(pre_hook='select 1', post_hook=["delete from {{ this }} where id = {{ var('x') }};", ""]) }}
                select 1 as id
            """,
        },
        variables={"x": 3},
    )
    model = project.models["m"]  # type: ignore[attr-defined]
    assert model.pre_hooks == ("select 1",)
    assert model.post_hooks == (f"delete from {THIS_PLACEHOLDER} where id = 3",)
    assert model.data_config["hooks"] == [list(model.pre_hooks), list(model.post_hooks)]
    assert model.incremental_hooks is None
