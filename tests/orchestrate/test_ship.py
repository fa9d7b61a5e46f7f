"""Shipping DAGs to object stores (`tidegate.orchestrate.ship`): MWAA's and Composer's layouts,
an upload order a listing reader can trust, reruns that change nothing, errors without
credentials. Against moto's S3 server and gcp-storage-emulator (tests/stores.py)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.conftest import write_files
from tests.orchestrate.test_check import CLEAN
from tests.stores import SECRET, Bucket, gcs_objects, s3_objects
from tidegate.errors import ConfigError
from tidegate.orchestrate.ship.bundle import bundle
from tidegate.orchestrate.ship.targets import Shipped, ship
from tidegate.project.config import load_config

DAG = CLEAN.format(dag_id="sales", cycle="")
COMMIT = "0123456789abcdef0123"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_files(
        root,
        {
            "tidegate.yml": "name: flows\n",
            "dags/sales.py": DAG,
            "dags/common/settings.py": "OWNER = 'data'\n",
            "plugins/operators.py": "X = 1\n",
            "requirements.txt": "apache-airflow-providers-postgres\n",
        },
    )
    return root


def shipped(root: Path, to: str, commit: str = COMMIT) -> Shipped:
    return ship(to, root, "dags", commit=commit, base=root, keep=5)


def test_dependencies_go_up_before_the_dags_that_import_them(project: Path) -> None:
    order = list(bundle(project, "dags", "mwaa", COMMIT).files)

    assert order == ["plugins.zip", "requirements.txt", "dags/common/settings.py", "dags/sales.py"]
    composer = bundle(project, "dags", "composer", COMMIT)
    assert list(composer.files) == ["plugins/operators.py", "dags/common/settings.py", "dags/sales.py"]
    assert composer.dag_files == ("sales.py",)


def test_deploy_waits_for_the_files_whose_parse_airflow_records(tmp_path: Path) -> None:
    """Airflow records a parse only for a file that makes a DAG, or an import error: a helper
    module that merely mentions DAGs (Airflow's safe-mode test) is shipped with them, not awaited."""
    write_files(
        tmp_path,
        {
            "dags/sales.py": DAG,
            "dags/decorated.py": "from airflow.sdk import dag\n\n@dag(schedule=None)\ndef decorated(): ...\n",
            "dags/broken.py": "from airflow import DAG\ndef broken(:\n",
            "dags/common/defaults.py": "from airflow.sdk import DAG\n\nARGS: dict = {}  # for each DAG\n",
        },
    )
    made = bundle(tmp_path, "dags", "composer", COMMIT)
    assert "dags/common/defaults.py" in made.files
    assert sorted(made.dag_files) == ["broken.py", "decorated.py", "sales.py"]


def test_s3_gets_mwaas_layout_with_a_manifest_and_a_rerun_changes_nothing(
    project: Path, s3_bucket: Bucket
) -> None:
    to = s3_bucket.url("s3", "env/prod")

    first = shipped(project, to)

    objects = s3_objects(s3_bucket, "env/prod/")
    assert set(objects) == {
        "dags/sales.py",
        "dags/common/settings.py",
        "plugins.zip",
        "requirements.txt",
        "tidegate-release.json",
    }
    manifest = json.loads(objects["tidegate-release.json"])
    assert manifest["release"] == first.release and first.release.startswith(COMMIT[:12])
    assert (
        manifest["files"]["dags/sales.py"]
        == hashlib.sha256((project / "dags" / "sales.py").read_bytes()).hexdigest()
    )
    assert zipfile.ZipFile(io.BytesIO(objects["plugins.zip"])).namelist() == ["operators.py"]
    stamp = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="env/prod/tidegate-release.json")

    again = shipped(project, to)

    assert (again.uploaded, again.removed, again.changed) == ((), (), False)
    after = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="env/prod/tidegate-release.json")
    assert after["LastModified"] == stamp["LastModified"]


def test_a_reader_listing_during_the_upload_sees_the_old_set_or_the_new_one(
    tmp_path: Path, s3_bucket: Bucket
) -> None:
    """MWAA syncs what it lists: every listing taken while a release replaces another holds
    the whole old set or the whole new set."""
    old = {f"dags/flow_{n:02}.py": DAG.replace('"sales"', f'"flow_{n}"') for n in range(24)}
    new = {name: text + "# v2\n" for name, text in list(old.items())[:12]}  # 12 changed, 12 removed
    new |= {f"dags/fresh_{n:02}.py": DAG.replace('"sales"', f'"fresh_{n}"') for n in range(12)}
    root = tmp_path / "project"
    write_files(root, old)
    to = s3_bucket.url("s3", "mwaa")
    shipped(root, to, "1" * 40)
    for name in old:
        (root / name).unlink()
    write_files(root, new)
    seen: list[set[str]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            listed = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name, Prefix="mwaa/dags/")
            seen.append({item["Key"].removeprefix("mwaa/") for item in listed.get("Contents", [])})

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = shipped(root, to, "2" * 40)
    finally:
        done.set()
        reader.join()

    assert len(result.uploaded) == 24 and len(result.removed) == 12
    assert len({frozenset(listing) for listing in seen}) > 5, "the reader saw too little of the upload"
    partial = [listing for listing in seen if not (set(old) <= listing or set(new) <= listing)]
    assert partial == []
    assert seen[-1] == set(new)


def test_gcs_gets_composers_layout_and_removes_only_what_it_shipped(
    project: Path, gcs_bucket: Bucket
) -> None:
    to = gcs_bucket.url("gs", "composer")
    gcs_bucket.client.bucket(gcs_bucket.name).blob("composer/dags/by_hand.py").upload_from_string(b"x = 1\n")
    shipped(project, to)
    (project / "dags" / "common" / "settings.py").unlink()
    (project / "dags" / "sales.py").write_text(DAG + "# changed\n")

    second = shipped(project, to, "f" * 40)

    assert (second.uploaded, second.removed) == (("dags/sales.py",), ("dags/common/settings.py",))
    objects = gcs_objects(gcs_bucket, "composer/")
    assert set(objects) == {
        "dags/sales.py",
        "dags/by_hand.py",
        "plugins/operators.py",
        "tidegate-release.json",
    }
    assert objects["dags/sales.py"].endswith(b"# changed\n")
    assert shipped(project, to, "f" * 40).changed is False


def test_a_missing_bucket_is_named_and_no_credential_is_printed(project: Path, s3_bucket: Bucket) -> None:
    ran = invoke(project, "dags", "deploy", "--to", "s3://no-such-bucket/dags")

    assert ran.code == 1, ran.all
    assert "s3://no-such-bucket/dags" in ran.stderr and "NoSuchBucket" in ran.stderr
    assert SECRET not in ran.all and "AKIATIDEGATETEST" not in ran.all


def test_dags_deploy_ships_to_a_bucket(project: Path, s3_bucket: Bucket) -> None:
    ran = invoke(project, "dags", "deploy", "--to", s3_bucket.url("s3", "airflow"), "--json")

    assert ran.code == 0, ran.all
    assert len(ran.json()["uploaded"]) == 4
    assert "airflow/dags/sales.py" in {
        item["Key"] for item in s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    }


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (
            "      staging: s3://b/p\n",
            "orchestration.airflow.targets.staging: 'staging' is not in environments",
        ),
        ("      prod: {to: 'gs://b', token: hunter2}\n", "reference to an environment variable"),
        ("      prod: ftp://b/p\n", "ftp:// is not a DAG target"),
    ],
)
def test_targets_are_checked_with_their_line(tmp_path: Path, targets: str, message: str) -> None:
    (tmp_path / "tidegate.yml").write_text(
        "name: flows\norchestration:\n  airflow:\n    targets:\n" + targets
    )

    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)

    assert message in raised.value.message and raised.value.line == 5


def test_a_target_may_be_just_where_it_goes(tmp_path: Path) -> None:
    (tmp_path / "tidegate.yml").write_text(
        "name: flows\nenvironments: {prod: {}, dev: {}}\norchestration:\n  airflow:\n    targets:\n"
        "      prod: {to: 's3://b/p', api_url: 'http://airflow:8080', token: '${AIRFLOW_TOKEN}'}\n"
        "      dev: /srv/airflow\n"
    )
    targets = load_config(tmp_path).orchestration.airflow.targets
    assert (targets["prod"].token, targets["prod"].parse_timeout) == ("${AIRFLOW_TOKEN}", "600s")
    assert (targets["dev"].to, targets["dev"].api_url) == ("/srv/airflow", None)
