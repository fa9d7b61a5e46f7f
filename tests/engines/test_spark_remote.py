"""Spark Connect's `remote` takes its token from the environment (`;token=${VAR}`), as DSNs take
passwords, and never shows it. No Java is needed: these stop at the Spark Connect client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tidegate.project.dsn import expand_connection

TOKEN = "dapi/se;cr=et@x+1"


def test_the_token_reaches_spark_connect_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("grpc")
    from pyspark.sql.connect.client.core import DefaultChannelBuilder

    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)

    remote = expand_connection("sc://acme.cloud.databricks.com:443/;token=${DATABRICKS_TOKEN};x-id=7").text

    builder = DefaultChannelBuilder(remote)
    assert (builder.token, builder.get("x-id"), builder.host) == (TOKEN, "7", "acme.cloud.databricks.com")


def test_a_remote_spark_cannot_start_without_showing_its_token(tmp_path: Path) -> None:
    pytest.importorskip("grpc")
    script = (
        "from pathlib import Path\n"
        "from tidegate.engines.spark_session import spark_session\n"
        "from tidegate.errors import EngineError\n"
        "from tidegate.project.config import ConnectionConfig\n"
        "try:\n"
        "    spark_session(ConnectionConfig(engine='spark', remote='sc://:443/;token=${TG_TOKEN}'), Path('.'))\n"
        "except EngineError as error:\n"
        "    print(error.message)\n"
    )
    done = subprocess.run(  # a process of its own: one Spark session per process
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TG_TOKEN": TOKEN},
        timeout=120,
    )

    assert "cannot start Spark (sc://:443/;token=***)" in done.stdout, done.stdout + done.stderr
    assert "Hostname is missing" in done.stdout
    for part in ("dapi", "se;cr", "et@x"):
        assert part not in done.stdout + done.stderr
