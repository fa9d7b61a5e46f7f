"""What tidegate reads from Git: refs, commits, pull-request changes computed from the merge
base, and the project at any commit without touching the working tree.

Every test builds a real repository in a temporary directory with the `git` executable.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tidegate.errors import GitError
from tidegate.git.repository import ChangedFile, ChangeStatus, Repository

ADDED, MODIFIED, DELETED, RENAMED = (
    ChangeStatus.ADDED,
    ChangeStatus.MODIFIED,
    ChangeStatus.DELETED,
    ChangeStatus.RENAMED,
)


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git configuration, and a fixed author, so that tests see plain git."""
    config = tmp_path_factory.mktemp("gitconfig") / "config"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Ada Lovelace")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "ada@example.com")
        monkeypatch.setenv(f"GIT_{role}_DATE", "2024-05-06T07:08:09+02:00")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def write(root: Path, files: dict[str, str | bytes | None]) -> None:
    """Write (or, for None, delete) files under `root`."""
    for name, content in files.items():
        path = root / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit(root: Path, message: str, files: dict[str, str | bytes | None] | None = None) -> str:
    write(root, files or {})
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    """A repository on branch main with a project in `analytics/` and a file outside it."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    commit(
        root,
        "first",
        {
            "README.md": "the company monorepo\n",
            "analytics/tidegate.yml": "name: shop\n",
            "analytics/models/orders.sql": "select 1 as id\n",
            "analytics/models/customers.sql": "select 2 as id\n",
            "analytics/seeds/countries.csv": "code\nfr\n",
            "web/app.py": "print('hi')\n",
        },
    )
    return root


@pytest.fixture
def project(repo_root: Path) -> Repository:
    return Repository(repo_root / "analytics")


# -- finding the repository ------------------------------------------------------------------


def test_a_project_in_a_subdirectory_knows_its_repository_and_its_place_in_it(repo_root: Path) -> None:
    repo = Repository(repo_root / "analytics")
    assert repo.root == repo_root.resolve()
    assert repo.prefix == "analytics"
    assert repo.project_dir == (repo_root / "analytics").resolve()


def test_a_project_at_the_top_of_its_repository_has_no_prefix(repo_root: Path) -> None:
    assert Repository(repo_root).prefix == ""


def test_a_directory_outside_any_repository_is_an_error_that_names_it(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not in a git repository") as raised:
        Repository(tmp_path)
    assert str(tmp_path) in str(raised.value)
    assert raised.value.exit_code == 2
    assert raised.value.hint and "git init" in raised.value.hint


def test_git_variables_of_a_hook_do_not_redirect_it(
    repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "--quiet")
    main = git(repo_root, "rev-parse", "main")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert Repository(repo_root / "analytics").resolve("main") == main


# -- refs and commits -----------------------------------------------------------------------


def test_refs_resolve_to_full_commit_shas(repo_root: Path, project: Repository) -> None:
    first = git(repo_root, "rev-parse", "HEAD")
    git(repo_root, "tag", "v1")
    second = commit(repo_root, "second")
    assert project.resolve("main") == project.resolve("HEAD") == second
    assert project.resolve("HEAD~1") == project.resolve("v1") == project.resolve(first[:8]) == first
    assert project.exists("v1") and not project.exists("v2") and not project.exists("")


@pytest.mark.parametrize("ref", ["no-such-branch", "origin/main", "--all", ""])
def test_an_unknown_ref_is_an_error_that_names_it(project: Repository, ref: str) -> None:
    with pytest.raises(GitError, match="unknown ref") as raised:
        project.resolve(ref)
    assert repr(ref) in str(raised.value)
    assert raised.value.exit_code == 2


def test_a_missing_remote_branch_hints_to_fetch_it(repo_root: Path, project: Repository) -> None:
    git(repo_root, "remote", "add", "origin", "https://example.com/shop.git")
    with pytest.raises(GitError) as raised:
        project.resolve("origin/main")
    assert raised.value.hint == "fetch it first: git fetch origin main"


def test_a_commit_tells_who_made_it_when_and_why(repo_root: Path, project: Repository) -> None:
    sha = commit(repo_root, "orders: add amounts\n\nA longer body.")
    info = project.commit("main")
    assert info.sha == sha
    assert sha.startswith(info.short_sha) and 7 <= len(info.short_sha) < 40
    assert (info.author_name, info.author_email) == ("Ada Lovelace", "ada@example.com")
    assert info.author == "Ada Lovelace <ada@example.com>"
    assert info.time == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert info.subject == "orders: add amounts"


def test_the_current_branch_is_none_on_a_detached_head(repo_root: Path, project: Repository) -> None:
    assert project.current_branch() == "main"
    git(repo_root, "checkout", "--quiet", "-b", "feature/orders")
    assert project.current_branch() == "feature/orders"
    git(repo_root, "checkout", "--quiet", "--detach")
    assert project.current_branch() is None


# -- the working tree -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "clean"),
    [
        ({}, True),
        ({"analytics/models/orders.sql": "select 3 as id\n"}, False),  # modified
        ({"analytics/models/new.sql": "select 4 as id\n"}, False),  # untracked
        ({"analytics/models/orders.sql": None}, False),  # deleted
        ({"web/app.py": "print('bye')\n"}, True),  # outside the project
        ({"analytics/warehouse.duckdb": "data"}, True),  # ignored
    ],
)
def test_the_working_tree_is_clean_when_the_projects_files_are_as_committed(
    repo_root: Path, change: dict[str, str | None], clean: bool
) -> None:
    commit(repo_root, "ignore the warehouse", {"analytics/.gitignore": "*.duckdb\n"})
    write(repo_root, dict(change))
    assert Repository(repo_root / "analytics").is_clean() is clean


def test_a_staged_change_is_not_clean(repo_root: Path, project: Repository) -> None:
    write(repo_root, {"analytics/models/orders.sql": "select 5 as id\n"})
    git(repo_root, "add", "analytics/models/orders.sql")
    assert not project.is_clean()


# -- pull requests ---------------------------------------------------------------------------


@pytest.fixture
def pull_request(repo_root: Path) -> Path:
    """Branch `feature` off main: it adds, modifies, deletes and renames project files and
    touches a file outside the project; meanwhile main moves on with its own change."""
    git(repo_root, "checkout", "--quiet", "-b", "feature")
    commit(
        repo_root,
        "feature: one",
        {
            "analytics/models/payments.sql": "select 6 as id\n",
            "analytics/models/orders.sql": "select 1 as id, 10 as amount\n",
            "web/app.py": "print('changed too')\n",
        },
    )
    (repo_root / "analytics" / "models" / "marts").mkdir()
    git(repo_root, "mv", "analytics/models/customers.sql", "analytics/models/marts/dim_customers.sql")
    commit(repo_root, "feature: two", {"analytics/seeds/countries.csv": None})
    git(repo_root, "checkout", "--quiet", "main")
    commit(repo_root, "main moves on", {"analytics/models/unrelated.sql": "select 7 as id\n"})
    return repo_root


def test_changed_files_are_those_a_pull_request_shows(pull_request: Path, project: Repository) -> None:
    assert project.changed_files("main", "feature") == [
        ChangedFile("models/marts/dim_customers.sql", RENAMED, old_path="models/customers.sql"),
        ChangedFile("models/orders.sql", MODIFIED),
        ChangedFile("models/payments.sql", ADDED),
        ChangedFile("seeds/countries.csv", DELETED),
    ]


def test_changes_merged_into_base_after_branching_are_not_the_pull_requests(
    pull_request: Path, project: Repository
) -> None:
    branch_point = git(pull_request, "rev-parse", "main~1")
    assert project.merge_base("main", "feature") == branch_point
    assert "models/unrelated.sql" not in {c.path for c in project.changed_files("main", "feature")}


def test_a_project_at_the_top_of_the_repository_sees_every_change(pull_request: Path) -> None:
    paths = {c.path for c in Repository(pull_request).changed_files("main", "feature")}
    assert {"web/app.py", "analytics/models/payments.sql"} <= paths


def test_a_file_renamed_into_the_project_is_added_and_one_renamed_out_is_deleted(
    repo_root: Path, project: Repository
) -> None:
    git(repo_root, "checkout", "--quiet", "-b", "moves")
    write(repo_root, {"web/query.sql": "select 'a fairly long query' as text, 42 as answer\n"})
    commit(repo_root, "a query outside the project")
    base = git(repo_root, "rev-parse", "HEAD")
    git(repo_root, "mv", "web/query.sql", "analytics/models/query.sql")
    git(repo_root, "mv", "analytics/models/customers.sql", "web/customers.sql")
    commit(repo_root, "moves across the project's edge")
    assert project.changed_files(base, "HEAD") == [
        ChangedFile("models/customers.sql", DELETED),
        ChangedFile("models/query.sql", ADDED),
    ]


def test_no_changes_is_an_empty_list(project: Repository) -> None:
    assert project.changed_files("main", "main") == []


def test_unrelated_histories_have_no_merge_base(repo_root: Path, project: Repository) -> None:
    git(repo_root, "checkout", "--quiet", "--orphan", "elsewhere")
    commit(repo_root, "a new root")
    with pytest.raises(GitError, match="no common ancestor") as raised:
        project.changed_files("main", "elsewhere")
    assert "'main'" in str(raised.value) and "'elsewhere'" in str(raised.value)


def test_a_pull_request_that_merges_cleanly_has_no_conflicts(pull_request: Path, project: Repository) -> None:
    assert project.conflicts("main", "feature") == []


def test_conflicts_are_the_files_base_and_head_both_changed_differently(
    pull_request: Path, project: Repository
) -> None:
    commit(
        pull_request, "main edits what the feature edits", {"analytics/models/orders.sql": "select 9 as id\n"}
    )
    commit(pull_request, "main edits outside the project", {"web/app.py": "print('main')\n"})
    status = git(pull_request, "status", "--porcelain")

    conflicts = project.conflicts("main", "feature")

    assert conflicts == ["analytics/models/orders.sql", "web/app.py"]  # relative to the repository
    assert git(pull_request, "status", "--porcelain") == status  # nothing merged in the working tree
    assert git(pull_request, "rev-parse", "HEAD") == git(pull_request, "rev-parse", "main")


def test_a_file_deleted_on_one_side_and_edited_on_the_other_conflicts(
    pull_request: Path, project: Repository
) -> None:
    commit(
        pull_request,
        "main edits the seed the feature deletes",
        {"analytics/seeds/countries.csv": "code\nde\n"},
    )
    assert project.conflicts("main", "feature") == ["analytics/seeds/countries.csv"]


# -- the project at a commit -----------------------------------------------------------------


def test_whether_a_path_is_committed_is_asked_of_a_commit(repo_root: Path, project: Repository) -> None:
    first = git(repo_root, "rev-parse", "HEAD")
    commit(repo_root, "a folder", {"analytics/.tidegate/cache/sql.json": "{}"})
    assert project.contains("HEAD", ".tidegate") and project.contains("HEAD", "models/orders.sql")
    assert not project.contains(first, ".tidegate")
    assert not Repository(repo_root).contains("HEAD", ".tidegate")  # it is analytics/.tidegate


def test_a_file_is_read_at_any_ref(repo_root: Path, project: Repository) -> None:
    first = git(repo_root, "rev-parse", "HEAD")
    commit(repo_root, "second", {"analytics/models/orders.sql": "select 2 as id\n"})
    assert project.read_file(first, "models/orders.sql") == b"select 1 as id\n"
    assert project.read_file("HEAD", "models/orders.sql") == b"select 2 as id\n"


def test_bytes_are_read_exactly_as_committed(repo_root: Path, project: Repository) -> None:
    content = b"a,b\r\n\x00\xff\xfe,\xe9\r\n"
    commit(repo_root, "binary", {"analytics/seeds/raw.csv": content})
    assert project.read_file("HEAD", "seeds/raw.csv") == content


@pytest.mark.parametrize("path", ["models/nope.sql", "models", "../README.md", "/etc/passwd"])
def test_a_file_missing_at_a_ref_is_an_error_naming_both(project: Repository, path: str) -> None:
    with pytest.raises(GitError) as raised:
        project.read_file("main", path)
    assert path in str(raised.value)


def _snapshot(root: Path) -> dict[str, object]:
    """Everything a user would notice changing: working files, the index, status and HEAD."""
    files = {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    return {
        "files": files,
        "index": (root / ".git" / "index").read_bytes(),
        "status": git(root, "status", "--porcelain"),
        "head": git(root, "rev-parse", "HEAD"),
        "branch": git(root, "symbolic-ref", "HEAD"),
    }


def test_materializing_another_ref_leaves_a_dirty_working_tree_and_the_index_untouched(
    pull_request: Path, project: Repository, tmp_path: Path
) -> None:
    write(pull_request, {"analytics/models/orders.sql": "select 'work in progress'\n"})
    write(pull_request, {"analytics/models/staged.sql": "select 'staged'\n"})
    git(pull_request, "add", "analytics/models/staged.sql")
    write(pull_request, {"analytics/models/untracked.sql": "select 'untracked'\n"})
    before = _snapshot(pull_request)

    out = project.materialize("feature", tmp_path / "feature")

    assert _snapshot(pull_request) == before
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "models/marts/dim_customers.sql",
        "models/orders.sql",
        "models/payments.sql",
        "tidegate.yml",
    ]
    assert (out / "models" / "orders.sql").read_text() == "select 1 as id, 10 as amount\n"


def test_a_materialized_tree_keeps_executable_bits_and_symbolic_links(
    repo_root: Path, project: Repository, tmp_path: Path
) -> None:
    write(repo_root, {"analytics/scripts/run.sh": "#!/bin/sh\necho run\n"})
    (repo_root / "analytics" / "scripts" / "run.sh").chmod(0o755)
    (repo_root / "analytics" / "models" / "alias.sql").symlink_to("orders.sql")
    commit(repo_root, "a script and a link")

    out = project.materialize("HEAD", tmp_path / "out")

    assert os.access(out / "scripts" / "run.sh", os.X_OK)
    assert not os.access(out / "models" / "orders.sql", os.X_OK)
    assert os.readlink(out / "models" / "alias.sql") == "orders.sql"
    assert (out / "models" / "alias.sql").read_text() == "select 1 as id\n"


def test_identical_files_are_all_written(repo_root: Path, project: Repository, tmp_path: Path) -> None:
    commit(repo_root, "copies", {f"analytics/models/copy_{i}.sql": "select 1 as id\n" for i in range(3)})
    out = project.materialize("HEAD", tmp_path / "out")
    assert all((out / "models" / f"copy_{i}.sql").read_text() == "select 1 as id\n" for i in range(3))


def test_a_project_of_thousands_of_files_is_materialized_quickly(
    repo_root: Path, project: Repository, tmp_path: Path
) -> None:
    files: dict[str, str | bytes | None] = {
        f"analytics/models/area_{i // 100}/model_{i}.sql": f"select {i} as id\n" for i in range(3000)
    }
    commit(repo_root, "many models", files)
    started = time.perf_counter()
    out = project.materialize("HEAD", tmp_path / "out")
    # About a second: two git processes in all. One process per file would take far longer.
    assert time.perf_counter() - started < 15
    assert len(list((out / "models").rglob("model_*.sql"))) == 3000
    assert (out / "models" / "area_29" / "model_2999.sql").read_text() == "select 2999 as id\n"


def test_materializing_refuses_a_directory_that_is_not_empty(project: Repository, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(GitError, match="not an empty directory"):
        project.materialize("HEAD", tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_a_ref_from_before_the_project_existed_is_an_error(repo_root: Path, tmp_path: Path) -> None:
    old = commit(repo_root, "before")
    commit(repo_root, "a second project", {"finance/tidegate.yml": "name: finance\n"})
    with pytest.raises(GitError, match="'finance' does not exist"):
        Repository(repo_root / "finance").materialize(old, tmp_path / "out")


def test_materialized_is_a_temporary_copy_removed_afterwards(project: Repository) -> None:
    with project.materialized("main") as files:
        assert (files / "tidegate.yml").read_text() == "name: shop\n"
    assert not files.exists()
