"""Object stores for the DAG shipping tests, speaking the real protocols: moto's threaded S3
server and gcp-storage-emulator, each started once per test session (per xdist worker) on a
free port of 127.0.0.1. A test gets its own bucket, and the clients' usual environment
variables pointed at the server (boto3's AWS_ENDPOINT_URL, google-cloud-storage's
STORAGE_EMULATOR_HOST), as a user's CI would set its real credentials."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

SECRET = "tidegate-test-secret-kJ8v2Qx"
"""The AWS secret key the tests use: no output may contain it."""

_numbers = itertools.count()


@dataclass(frozen=True)
class Bucket:
    name: str
    client: Any
    """boto3's S3 client, or google-cloud-storage's Client."""

    def url(self, scheme: str, prefix: str = "") -> str:
        return f"{scheme}://{self.name}/{prefix}".rstrip("/")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[str]:
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    yield f"http://127.0.0.1:{server._api._httpd.server_port}"
    server.stop()


def _s3_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATIDEGATETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new, empty S3 bucket, and boto3's environment pointed at the server."""
    import boto3

    _s3_environment(monkeypatch, s3_server)
    client = boto3.client("s3")
    name = f"dags-{next(_numbers)}"
    client.create_bucket(Bucket=name)
    return Bucket(name, client)


@pytest.fixture
def gcs_bucket(gcs_server: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new, empty Cloud Storage bucket, and the client's environment pointed at the emulator."""
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    client = storage.Client()
    name = f"composer-{next(_numbers)}"
    client.create_bucket(name)
    return Bucket(name, client)


def s3_objects(bucket: Bucket, prefix: str = "") -> dict[str, bytes]:
    listed = bucket.client.list_objects_v2(Bucket=bucket.name, Prefix=prefix).get("Contents", [])
    return {
        item["Key"][len(prefix) :]: bucket.client.get_object(Bucket=bucket.name, Key=item["Key"])[
            "Body"
        ].read()
        for item in listed
    }


def gcs_objects(bucket: Bucket, prefix: str = "") -> dict[str, bytes]:
    return {
        blob.name[len(prefix) :]: blob.download_as_bytes()
        for blob in bucket.client.list_blobs(bucket.name, prefix=prefix)
    }
