"""Which roots a change touches, and the content key a reviewed plan is found by: the root's
folder, the local modules it calls (found by parsing HCL), its variables files and settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidegate.errors import ConfigError, TerraformError
from tidegate.infra.terraform.roots import RootFiles, private_copy, require_remote_state, root_files
from tidegate.infra.terraform.workflow import touched_roots
from tidegate.project.config import load_config
from tidegate.project.shipping import TerraformConfig, TerraformRoot

ROOT = TerraformRoot(path="terraform/warehouse", environment="prod", var_files=["../common.tfvars"])

PROJECT = {
    "terraform/warehouse/main.tf": (
        'module "schemas" {\n  source = "./modules/schemas"\n}\n\n'
        'module "roles" {\n  source = "../../shared/roles"\n  names  = ["a"]\n}\n\n'
        'module "registry" {\n  source  = "hashicorp/consul/aws"\n  version = "0.1.0"\n}\n'
    ),
    "terraform/warehouse/modules/schemas/main.tf": 'resource "pg_schema" "a" {\n  name = "a"\n}\n',
    "terraform/warehouse/.terraform.lock.hcl": "# lock\n",
    "terraform/warehouse/.terraform/modules/modules.json": "{}",
    "terraform/warehouse/terraform.tfstate": "{}",
    "terraform/common.tfvars": 'size = "small"\n',
    # roles calls grants from JSON syntax, grants calls nothing local (a git source)
    "shared/roles/main.tf.json": '{"module": {"grants": {"source": "../grants"}}}',
    "shared/grants/main.tf": 'module "x" {\n  source = "git::https://example.com/x.git"\n}\n',
    "shared/unused/main.tf": "# called by nobody\n",
    "terraform/staging/main.tf": "# another root\n",
    "models/orders.sql": "select 1 as id\n",
}


def write(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, PROJECT)
    return tmp_path


def test_a_root_is_its_folder_its_local_modules_and_variables_files(project: Path) -> None:
    files = root_files(project, ROOT)
    assert files.folders == (
        "terraform/warehouse",
        "terraform/warehouse/modules/schemas",
        "shared/roles",
        "shared/grants",
    )
    assert [name for name, _ in files.files] == [
        "shared/grants/main.tf",
        "shared/roles/main.tf.json",
        "terraform/common.tfvars",
        "terraform/warehouse/.terraform.lock.hcl",  # the provider versions: part of the content
        "terraform/warehouse/main.tf",
        "terraform/warehouse/modules/schemas/main.tf",
    ]


@pytest.mark.parametrize(
    ("changed", "touched"),
    [
        (["terraform/warehouse/main.tf"], True),
        (["terraform/warehouse/modules/schemas/new.tf"], True),  # added
        (["shared/grants/main.tf"], True),  # a module of a module
        (["terraform/common.tfvars"], True),  # a variables file outside the folder
        (["tidegate.yml"], True),  # the root's settings may have changed
        (["shared/unused/main.tf", "models/orders.sql"], False),
        (["terraform/staging/main.tf", "terraform/warehouse2/main.tf"], False),
        (["shared/roles2/main.tf", "terraform/other.tfvars"], False),
        ([], False),
    ],
)
def test_what_touches_a_root(project: Path, changed: list[str], touched: bool) -> None:
    assert root_files(project, ROOT).touched_by(changed) is touched


def test_a_deleted_file_and_a_deleted_root(project: Path) -> None:
    config = TerraformConfig(roots=[ROOT, TerraformRoot(path="terraform/staging", environment="staging")])
    (project / "terraform/warehouse/modules/schemas/main.tf").unlink()
    shutil.rmtree(project / "terraform/staging")
    changed = ["terraform/warehouse/modules/schemas/main.tf", "terraform/staging/main.tf"]
    assert [files.root.path for files in touched_roots(project, config, changed)] == ["terraform/warehouse"]
    with pytest.raises(TerraformError, match="'terraform/staging' is not a folder") as error:
        root_files(project, config.roots[1])
    assert error.value.path == "tidegate.yml"


def test_a_module_that_does_not_parse_is_left_to_terraform(project: Path) -> None:
    write(project, {"terraform/warehouse/broken.tf": 'module "x" {\n  source = \n'})
    assert root_files(project, ROOT).folders[0] == "terraform/warehouse"


@pytest.mark.parametrize(
    ("terraform_block", "refused"),
    [
        ('terraform {\n  backend "pg" {\n    conn_str = "postgres://x"\n  }\n}\n', False),
        ('terraform {\n  cloud {\n    organization = "x"\n  }\n}\n', False),
        ('{"terraform": {"backend": {"s3": {"bucket": "b"}}}}', False),
        ('terraform {\n  backend "local" {\n    path = "x.tfstate"\n  }\n}\n', True),
        ('terraform {\n  required_version = ">= 1.0"\n}\n', True),
        ("", True),
        ('terraform {\n  backend "pg" {\n', False),  # does not parse: Terraform will say so
    ],
)
def test_a_root_must_keep_its_state_remotely(project: Path, terraform_block: str, refused: bool) -> None:
    name = "backend.tf.json" if terraform_block.startswith("{") else "backend.tf"
    write(project, {f"terraform/warehouse/{name}": terraform_block})
    files = root_files(project, ROOT)
    if not refused:
        require_remote_state(project, files)
        return
    with pytest.raises(TerraformError, match="its state would be a local file") as error:
        require_remote_state(project, files)
    assert (
        error.value.path == "terraform/warehouse"
        and error.value.hint
        and "remote backend" in error.value.hint
    )


def test_opentofu_files_call_modules_too(project: Path) -> None:
    write(project, {"terraform/warehouse/extra.tofu": 'module "u" {\n  source = "../../shared/unused"\n}\n'})
    assert "shared/unused" in root_files(project, ROOT).folders


def test_a_module_outside_the_project_is_not_followed(project: Path) -> None:
    write(project, {"terraform/warehouse/outside.tf": 'module "o" {\n  source = "../../../elsewhere"\n}\n'})
    assert "../elsewhere" not in root_files(project, ROOT).folders


def test_a_private_copy_lays_out_the_root_and_its_modules_as_in_the_project(project: Path) -> None:
    files = root_files(project, ROOT)
    with private_copy(project, files) as folder:
        assert folder.name == "warehouse" and (folder / "main.tf").is_file()
        copy = folder.parents[1]
        assert (copy / "shared/grants/main.tf").is_file() and (copy / "terraform/common.tfvars").is_file()
        assert not (folder / "terraform.tfstate").exists() and not (copy / "models").exists()
        (folder / ".terraform.lock.hcl").write_text("changed by init")
    assert (project / "terraform/warehouse/.terraform.lock.hcl").read_text() == "# lock\n"
    assert not copy.exists()


# the content key ------------------------------------------------------------------------------

names = st.lists(
    st.sampled_from(["main.tf", "vars.tf", "a/b.tf", "m/main.tf", "m/n/x.tf", "c.tfvars", "t.json"]),
    min_size=1,
    max_size=6,
    unique=True,
)
contents = st.binary(min_size=0, max_size=20)


def key_of(files: dict[str, bytes], root: TerraformRoot | None = None) -> str:
    """The key of a root `r` holding `files` (those under `m/` are a module it calls), written
    in the order given."""
    with TemporaryDirectory() as directory:
        project = Path(directory)
        (project / "r").mkdir()
        (project / "r/calls.tf").write_text('module "m" {\n  source = "../m"\n}\n')
        for name, data in files.items():
            path = project / (name if name.startswith("m/") else f"r/{name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return root_files(project, root or TerraformRoot(path="r", environment="prod")).key


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["main.tf", "a/b.tf", "m/main.tf", "m/n/x.tf"]), contents, min_size=1))
def test_the_key_does_not_depend_on_the_order_files_are_written_in(files: dict[str, bytes]) -> None:
    assert key_of(files) == key_of(dict(reversed(list(files.items()))))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), names)
def test_the_key_changes_with_any_byte_of_any_file_of_the_root_or_its_modules(
    data: st.DataObject, chosen: list[str]
) -> None:
    files = {name: data.draw(contents, label=name) for name in chosen}
    name = data.draw(st.sampled_from(chosen), label="changed")
    position = data.draw(st.integers(0, len(files[name])), label="position")
    byte = data.draw(st.integers(0, 255), label="byte")
    changed = bytearray(files[name])
    if position < len(changed) and data.draw(st.booleans(), label="replace"):
        if changed[position] == byte:
            byte = (byte + 1) % 256
        changed[position] = byte
    else:
        changed.insert(position, byte)
    assert key_of(files) != key_of({**files, name: bytes(changed)})
    assert key_of(files) != key_of({**files, f"{name}.new": b""})  # a file added
    if len(files) > 1:
        assert key_of(files) != key_of({k: v for k, v in files.items() if k != name})  # deleted


def test_the_key_changes_with_the_settings_and_not_with_the_environment() -> None:
    files = {"main.tf": b"# x\n"}
    base = key_of(files)
    assert key_of(files, TerraformRoot(path="r", environment="staging")) == base
    assert key_of(files, TerraformRoot(path="r", environment="prod", vars={"size": "s"})) != base
    assert key_of(files, TerraformRoot(path="r", environment="prod", var_files=["x.tfvars"])) != base


def test_the_key_leaves_out_what_terraform_writes_in_a_root() -> None:
    files = {"main.tf": b"# x\n"}
    written = {
        ".terraform/providers/x": b"binary",
        "terraform.tfstate": b"{}",
        "terraform.tfstate.backup": b"{}",
        "x.tfplan": b"plan",
    }
    assert key_of(files) == key_of({**files, **written})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(st.sets(st.integers(0, 4), max_size=3), min_size=6, max_size=6),
    as_json=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_the_modules_of_a_root_are_those_it_reaches(calls: list[set[int]], as_json: list[bool]) -> None:
    """A root `r` (caller 5) and modules `mods/m0`..`m4`, each calling some others through a
    relative source, in HCL or JSON: the root's folders are those it reaches, and only a change
    in one of them touches it."""
    with TemporaryDirectory() as directory:
        project = Path(directory)
        for caller in range(6):
            folder, prefix = ("r", "../mods/") if caller == 5 else (f"mods/m{caller}", "../")
            (project / folder).mkdir(parents=True, exist_ok=True)
            sources = {f"c{n}": f"{prefix}m{n}" for n in sorted(calls[caller])}
            if as_json[caller]:
                body = json.dumps({"module": {name: {"source": source} for name, source in sources.items()}})
                (project / folder / "calls.tf.json").write_text(body)
            else:
                blocks = [
                    f'module "{name}" {{\n  source = "{source}"\n}}\n' for name, source in sources.items()
                ]
                (project / folder / "calls.tf").write_text("\n".join(blocks) or "# no modules\n")
        reached, todo = set(), list(calls[5])
        while todo:
            if (module := todo.pop()) not in reached:
                reached.add(module)
                todo.extend(calls[module])
        files = root_files(project, TerraformRoot(path="r", environment="prod"))
        assert files.folders[0] == "r"
        assert set(files.folders[1:]) == {f"mods/m{n}" for n in reached}
        for module in range(5):
            assert files.touched_by([f"mods/m{module}/new.tf"]) is (module in reached)


# the settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "line", "words"),
    [
        ("  roots:\n    - {path: /abs, environment: prod}\n", 4, ["inside the project"]),
        ("  roots:\n    - {path: ../up, environment: prod}\n", 4, ["inside the project"]),
        ("  roots:\n    - {path: ., environment: prod}\n", 4, ["the project itself"]),
        ("  roots:\n    - {path: t, environment: prod, var_files: [../../x.tfvars]}\n", 4, ["var_files"]),
        ("  roots:\n    - {path: t, environment: prod, var_files: [/etc/x.tfvars]}\n", 4, ["var_files"]),
        ("  roots:\n    - {path: t, environment: nope}\n", 4, ["'nope'", "environments"]),
        ("  roots:\n    - {path: t, environment: prod}\n    - {path: t/, environment: prod}\n", 5, ["twice"]),
        ("  lock_timeout: a minute\n", 3, ["lock_timeout", "duration"]),
        ("  binary: ''\n", 3, ["binary"]),
    ],
)
def test_invalid_terraform_settings_name_their_line(
    tmp_path: Path, section: str, line: int, words: list[str]
) -> None:
    (tmp_path / "tidegate.yml").write_text(f"name: t\nterraform:\n{section}")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    assert error.value.line == line, error.value
    for word in words:
        assert word in error.value.message


def test_terraform_settings(tmp_path: Path) -> None:
    (tmp_path / "tidegate.yml").write_text(
        "name: t\nterraform:\n  binary: tofu\n  lock_timeout: 2m\n  roots:\n"
        "    - {path: ./terraform/warehouse/, environment: prod, vars: {size: [1, 2]}, var_files: [a.tfvars]}\n"
    )
    config = load_config(tmp_path).terraform
    assert (config.binary, config.lock_timeout) == ("tofu", "2m")
    assert config.roots == [
        TerraformRoot(
            path="terraform/warehouse", environment="prod", vars={"size": [1, 2]}, var_files=["a.tfvars"]
        )
    ]


def test_root_files_of_a_root_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(TerraformError) as error:
        root_files(tmp_path, ROOT)
    assert (error.value.path, error.value.hint) == ("tidegate.yml", "fix `terraform: roots:` in tidegate.yml")


def test_root_files_is_frozen(project: Path) -> None:
    files = root_files(project, ROOT)
    assert isinstance(files, RootFiles) and hash(files.files)
