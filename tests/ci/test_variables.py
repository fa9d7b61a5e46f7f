"""What CI systems say: the pull request being built, its base and head, the branch a push deploys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tidegate.ci.variables import CiRefs, ci_refs, deploy_branch, pull_request_number
from tidegate.errors import ConfigError


@pytest.fixture
def event_file(tmp_path: Path) -> Callable[[object], str]:
    def make(event: object) -> str:
        path = tmp_path / "event.json"
        path.write_text(json.dumps(event))
        return str(path)

    return make


def test_an_explicit_pull_request_number_wins(event_file: Callable[[object], str]) -> None:
    env = {"GITHUB_EVENT_PATH": event_file({"pull_request": {"number": 7}}), "CI_MERGE_REQUEST_IID": "8"}
    assert pull_request_number(12, env) == 12
    assert pull_request_number(None, env) == 7


@pytest.mark.parametrize(
    ("env", "number"),
    [
        ({"GITHUB_REF": "refs/pull/41/merge"}, 41),
        ({"GITHUB_REF": "refs/pull/42/head"}, 42),
        ({"GITHUB_REF": "refs/heads/main"}, None),
        ({"CI_MERGE_REQUEST_IID": "43"}, 43),
        ({"CI_COMMIT_BRANCH": "main"}, None),
        ({}, None),
    ],
)
def test_the_pull_request_number_comes_from_the_ci_system(env: dict[str, str], number: int | None) -> None:
    assert pull_request_number(None, env) == number


def test_a_github_event_without_a_pull_request_falls_back_to_the_ref(
    event_file: Callable[[object], str],
) -> None:
    env = {"GITHUB_EVENT_PATH": event_file({"ref": "refs/heads/main"}), "GITHUB_REF": "refs/pull/9/merge"}
    assert pull_request_number(None, env) == 9


@pytest.mark.parametrize(
    "env",
    [{"CI_MERGE_REQUEST_IID": "abc"}, {"GITHUB_EVENT_PATH": "/nonexistent/event.json"}],
)
def test_a_garbled_ci_variable_is_a_configuration_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        pull_request_number(None, env)


def test_a_pull_request_number_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        pull_request_number(0, {})


@pytest.mark.parametrize(
    ("env", "refs"),
    [
        ({"GITHUB_BASE_REF": "main", "GITHUB_SHA": "abc123"}, CiRefs("origin/main", "abc123")),
        ({"GITHUB_BASE_REF": "", "GITHUB_SHA": "abc123"}, CiRefs(None, None)),  # a push
        (
            {
                "CI_MERGE_REQUEST_DIFF_BASE_SHA": "b45e",
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
                "CI_COMMIT_SHA": "h34d",
            },
            CiRefs("b45e", "h34d"),
        ),
        (
            {"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "develop", "CI_COMMIT_SHA": "h34d"},
            CiRefs("origin/develop", "h34d"),
        ),
        ({"CI_COMMIT_SHA": "h34d", "CI_COMMIT_BRANCH": "main"}, CiRefs(None, None)),  # a push
        ({}, CiRefs(None, None)),
    ],
)
def test_base_and_head_come_from_the_ci_system(env: dict[str, str], refs: CiRefs) -> None:
    assert ci_refs(env) == refs
    base, head = ci_refs(env)
    assert (base, head) == refs


@pytest.mark.parametrize(
    ("explicit", "env", "branch"),
    [
        ("production", {"GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main"}, "production"),
        (None, {"GITHUB_REF": "refs/heads/release/2024", "GITHUB_REF_NAME": "release/2024"}, "release/2024"),
        (None, {"GITHUB_REF": "refs/pull/4/merge", "GITHUB_REF_NAME": "4/merge"}, None),
        (None, {"GITHUB_REF": "refs/tags/v1", "GITHUB_REF_NAME": "v1"}, None),
        (None, {"CI_COMMIT_BRANCH": "main"}, "main"),
        (None, {"CI_MERGE_REQUEST_IID": "3"}, None),
        (None, {}, None),
    ],
)
def test_the_branch_to_deploy_comes_from_a_push_pipeline(
    explicit: str | None, env: dict[str, str], branch: str | None
) -> None:
    assert deploy_branch(explicit, env) == branch
