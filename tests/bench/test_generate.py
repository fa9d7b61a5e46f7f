"""The generated projects are a pure function of their arguments, and the CI change is always new."""

from pathlib import Path

import pytest

from generate import STATUS_FILTER_RE, breaking_variant, choose_change_target, generate_project


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_arguments_give_byte_identical_projects(tmp_path: Path) -> None:
    generate_project(tmp_path / "a", 60, "dbt")
    generate_project(tmp_path / "b", 60, "dbt")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert len(list((tmp_path / "a" / "models").rglob("*.sql"))) == 60


def test_each_repetition_gets_a_change_no_tool_has_seen(tmp_path: Path) -> None:
    generate_project(tmp_path, 60, "dbt")
    original = choose_change_target(tmp_path).read_text()
    variants = {n: breaking_variant(original, n) for n in (1, 2, 3)}
    assert len(set(variants.values())) == 3
    assert original not in variants.values()
    for number, variant in variants.items():
        assert f"'never_{number}')" in variant
        assert len(STATUS_FILTER_RE.findall(variant)) == len(STATUS_FILTER_RE.findall(original)) - 1


def test_a_model_without_the_filter_cannot_be_changed() -> None:
    with pytest.raises(ValueError, match="no `where status"):
        breaking_variant("select 1 as id", 1)
