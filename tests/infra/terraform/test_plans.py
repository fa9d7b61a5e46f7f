"""Reading the plans Terraform 1.0 writes (JSON format 0.2): sensitive values never leave, and
two plans making the same change have the same digest. The document below is what the real
Terraform 1.0.3 printed (`show -json`) for the kit's provider, trimmed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tidegate.errors import ConfigError
from tidegate.infra.terraform.plans import SENSITIVE, drifted, plan_from_json, redact_plan, redacted

SECRET, OLD_SECRET, DSN_SECRET = "newsecret99", "hunter2secret", "dsn-password-x"


def resource(address: str, values: dict[str, Any], sensitive: dict[str, Any] | None = None) -> dict[str, Any]:
    kind, name = address.split(".")
    return {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider_name": "tidegate.test/test/pg",
        "schema_version": 0,
        "values": values,
        "sensitive_values": sensitive or {},
    }


def change(address: str, actions: list[str], before: Any, after: Any, **more: Any) -> dict[str, Any]:
    kind, name = address.split(".")
    return {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider_name": "tidegate.test/test/pg",
        "change": {"actions": actions, "before": before, "after": after, **more},
    }


ROLE_BEFORE = {"id": "spike_r", "login": True, "name": "spike_r", "password": OLD_SECRET}
ROLE_AFTER = {"id": "spike_r", "login": True, "name": "spike_r", "password": SECRET}
PLAN: dict[str, Any] = {
    "format_version": "0.2",
    "terraform_version": "1.0.3",
    "variables": {"password": {"value": SECRET}},
    "planned_values": {"root_module": {"resources": [resource("pg_role.r", ROLE_AFTER)]}},
    "resource_drift": [
        change(
            "pg_schema.a",
            ["update"],
            {"comment": "second", "id": "spike_a", "name": "spike_a"},
            {"comment": "hand", "id": "spike_a", "name": "spike_a"},
            before_sensitive={},
            after_sensitive={},
        )
    ],
    "resource_changes": [
        change(
            "pg_role.r",
            ["update"],
            ROLE_BEFORE,
            ROLE_AFTER,
            after_unknown={},
            before_sensitive={"password": True},
            after_sensitive={"password": True},
        ),
        {
            **change(
                "pg_schema.a",
                ["delete", "create"],
                {"comment": "hand", "id": "spike_a", "name": "spike_a"},
                {"comment": "second", "name": "spike_a2"},
                after_unknown={"id": True},
                before_sensitive={},
                after_sensitive={},
                replace_paths=[["name"]],
            ),
            "action_reason": "replace_because_cannot_update",
        },
        change("pg_schema.gone", ["no-op"], None, None, after_unknown={}),
        change(
            "pg_role.new",
            ["create"],
            None,
            {"login": False, "name": "spike_n", "password": SECRET},
            after_unknown={"id": True},
            before_sensitive=False,
            after_sensitive={"password": True},
        ),
    ],
    "output_changes": {
        "password": {
            "actions": ["update"],
            "before": OLD_SECRET,
            "after": SECRET,
            "after_unknown": False,
            "before_sensitive": True,
            "after_sensitive": True,
        }
    },
    "prior_state": {
        "format_version": "0.2",
        "values": {"root_module": {"resources": [resource("pg_role.r", ROLE_BEFORE)]}},
    },
    "configuration": {
        "provider_config": {"pg": {"name": "pg", "expressions": {"dsn": {"constant_value": DSN_SECRET}}}},
        "root_module": {
            "resources": [
                {"address": "pg_role.r", "expressions": {"password": {"constant_value": SECRET}}},
            ]
        },
    },
}


def test_a_terraform_1_0_plan_is_read() -> None:
    plan = plan_from_json(PLAN, "plan.json")
    assert plan.terraform_version == "1.0.3"
    assert [(c.address, c.action) for c in plan.changes] == [
        ("pg_role.r", "update"),
        ("pg_schema.a", "replace"),
        ("pg_role.new", "create"),
    ]
    assert plan.summary == "1 to create, 1 to update, 1 to replace"
    assert [c.address for c in plan.destructive] == ["pg_schema.a"]
    replaced = plan.changes[1]
    assert replaced.replaced_by == ("name",)
    assert [(a.name, a.before, a.after) for a in replaced.attributes] == [
        ("comment", "hand", "second"),
        ("id", "spike_a", "(known after apply)"),
        ("name", "spike_a", "spike_a2"),
    ]
    role = plan.changes[0]
    assert [(a.name, a.before, a.after) for a in role.attributes] == [("password", SENSITIVE, SENSITIVE)]


@pytest.mark.parametrize("version", ["0.1", "0.2", "1.0", "1.2"])
def test_the_json_formats_of_terraform_0_12_to_now_are_read(version: str) -> None:
    assert plan_from_json({**PLAN, "format_version": version}, "p").summary


def test_a_later_json_format_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"2\.0 is not supported"):
        plan_from_json({**PLAN, "format_version": "2.0"}, "p")


def test_sensitive_values_never_leave() -> None:
    plan = plan_from_json(PLAN, "plan.json")
    kept = redact_plan(PLAN)
    shown = json.dumps([plan.to_dict(), kept])
    for secret in (SECRET, OLD_SECRET, DSN_SECRET):
        assert secret not in shown
    assert SENSITIVE in shown
    # what is kept still reads as a plan of the same changes, what is not sensitive still there
    again = plan_from_json(json.loads(json.dumps(kept)), "kept")
    assert [(c.address, c.action) for c in again.changes] == [(c.address, c.action) for c in plan.changes]
    assert kept["resource_drift"][0]["change"]["after"]["comment"] == "hand"
    assert set(kept) == {
        "format_version",
        "terraform_version",
        "resource_changes",
        "resource_drift",
        "output_changes",
    }


def test_a_plan_without_changes_keeps_a_readable_json() -> None:
    kept = redact_plan({"format_version": "0.2", "terraform_version": "1.0.3", "planned_values": {}})
    assert plan_from_json(kept, "kept").changes == ()


def test_a_newer_terraforms_generated_configuration_is_left_out() -> None:
    data = copy.deepcopy(PLAN)
    data["resource_changes"][0]["change"]["generated_config"] = f'password = "{SECRET}"'
    assert SECRET not in json.dumps(redact_plan(data))


@pytest.mark.parametrize(
    ("data", "marks", "shown"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": [False, True]}, {"a": 1, "b": [1, SENSITIVE]}),
        ({"a": {"b": "x"}}, {"a": True}, {"a": SENSITIVE}),
        ({"a": None}, {"a": True}, {"a": None}),  # a null is no secret
        ("x", True, SENSITIVE),
        ({"a": "x"}, False, {"a": "x"}),
        ([{"p": "x"}], [{"p": True}], [{"p": SENSITIVE}]),
    ],
)
def test_redacted(data: Any, marks: Any, shown: Any) -> None:
    assert redacted(data, marks) == shown


def test_the_digest_is_the_change_as_a_reviewer_sees_it() -> None:
    first = plan_from_json(PLAN, "a")
    kept = plan_from_json(redact_plan(PLAN), "kept")
    assert [c.digest for c in kept.changes] == [c.digest for c in first.changes]  # kept JSON alike
    other = copy.deepcopy(PLAN)
    other["resource_changes"][0]["change"]["before"] = {**ROLE_BEFORE, "login": False}  # state moved
    assert first.same_changes(plan_from_json(other, "b"))  # same result: the same change
    other["resource_changes"][0]["change"]["after"] = {**ROLE_AFTER, "password": "another"}
    assert first.same_changes(plan_from_json(other, "b"))  # no secret is hashed
    other["resource_changes"][0]["change"]["after"] = {**ROLE_AFTER, "login": False}
    assert not first.same_changes(plan_from_json(other, "b"))
    other = copy.deepcopy(PLAN)
    other["resource_changes"][1]["change"]["actions"] = ["create", "delete"]
    assert not first.same_changes(plan_from_json(other, "b"))
    fewer = copy.deepcopy(PLAN)
    del fewer["resource_changes"][0]
    assert not first.same_changes(plan_from_json(fewer, "c"))


def test_drift_names_the_changed_attributes_not_their_values() -> None:
    data = {
        "resource_drift": [
            *PLAN["resource_drift"],
            change(
                "pg_role.r",
                ["update"],
                ROLE_BEFORE,
                {**ROLE_BEFORE, "password": SECRET},
                before_sensitive={"password": True},
                after_sensitive={"password": True},
            ),
            change("pg_schema.b", ["delete"], {"name": "b"}, None),
            change("pg_schema.c", ["no-op"], {"name": "c"}, {"name": "c"}),
        ]
    }
    assert [str(item) for item in drifted(data)] == [  # sorted by address
        "pg_role.r (changed: password)",
        "pg_schema.a (changed: comment)",
        "pg_schema.b (deleted)",
    ]
