"""What the CI system says about the run: the pull request, its base and head, the branch a
push deploys. GitHub Actions and GitLab CI say it in environment variables; the functions that
read them take the mapping as an argument so that tests pass their own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from tidegate.errors import ConfigError

_PULL_REF = re.compile(r"^refs/pull/(\d+)/(?:merge|head)$")


class CiRefs(NamedTuple):
    """A tuple, so that callers can write `base, head = ci_refs()`."""

    base: str | None
    head: str | None


def pull_request_number(explicit: int | None = None, env: Mapping[str, str] = os.environ) -> int | None:
    """The pull (merge) request being built: `explicit` if given, else what GitHub Actions or
    GitLab CI say; None outside a pull-request pipeline."""
    if explicit is not None:
        if explicit < 1:
            raise ConfigError(f"invalid pull request number {explicit}")
        return explicit
    for number in (_github_event_number(env), _github_ref_number(env), _gitlab_number(env)):
        if number is not None:
            return number
    return None


def ci_refs(env: Mapping[str, str] = os.environ) -> CiRefs:
    """Base and head of the pull request the CI system is building, each None when it does not
    say (outside a pull-request pipeline). On GitHub the base branch is `origin/<branch>`."""
    return _github_refs(env) or _gitlab_refs(env) or CiRefs(None, None)


def deploy_branch(explicit: str | None = None, env: Mapping[str, str] = os.environ) -> str | None:
    """The branch being deployed: `explicit`, else the branch a push pipeline builds (GitHub
    Actions, GitLab CI); None elsewhere, where callers fall back to the checked-out branch."""
    if explicit:
        return explicit
    ref = env.get("GITHUB_REF", "")
    if ref.startswith("refs/heads/"):
        return env.get("GITHUB_REF_NAME") or ref.removeprefix("refs/heads/")
    return env.get("CI_COMMIT_BRANCH") or None


def _github_event_number(env: Mapping[str, str]) -> int | None:
    """`pull_request.number` of the event GitHub Actions wrote to GITHUB_EVENT_PATH."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the GitHub event (GITHUB_EVENT_PATH): {error}", path=path) from None
    pull_request = event.get("pull_request") if isinstance(event, dict) else None
    number = pull_request.get("number") if isinstance(pull_request, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _github_ref_number(env: Mapping[str, str]) -> int | None:
    match = _PULL_REF.match(env.get("GITHUB_REF", ""))
    return int(match.group(1)) if match else None


def _gitlab_number(env: Mapping[str, str]) -> int | None:
    value = env.get("CI_MERGE_REQUEST_IID")
    if not value:
        return None
    if not value.isdigit():
        raise ConfigError(f"CI_MERGE_REQUEST_IID is not a number: {value!r}")
    return int(value)


def _github_refs(env: Mapping[str, str]) -> CiRefs | None:
    """GITHUB_BASE_REF is set on pull-request events only; actions/checkout fetches the base
    branch as `origin/<branch>` (with fetch-depth: 0)."""
    if not env.get("GITHUB_BASE_REF"):
        return None
    return CiRefs(f"origin/{env['GITHUB_BASE_REF']}", env.get("GITHUB_SHA") or None)


def _gitlab_refs(env: Mapping[str, str]) -> CiRefs | None:
    """GitLab gives the merge base itself when it knows it, else the target branch's name."""
    target = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    base = env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA") or (f"origin/{target}" if target else None)
    return CiRefs(base, env.get("CI_COMMIT_SHA") or None) if base else None
