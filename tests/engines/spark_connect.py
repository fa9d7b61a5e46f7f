"""Run the Spark adapter's tests against a real Spark Connect server (as on a cluster or Databricks).

A Spark process holds one session, local or remote, so this runs in its own pytest process:
it starts the Connect server bundled with PySpark on a free port, runs tests/engines/test_spark.py
with TIDEGATE_SPARK_REMOTE pointing at it, and stops the server. `make test` calls it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.5)
    return False


def main() -> int:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        print("spark connect: skipped, no Java")
        return 0
    import pyspark

    home = Path(pyspark.__file__).parent
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tidegate-connect-") as work:
        env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": work, "SPARK_PID_DIR": work}
        script = home / "sbin"
        subprocess.run(
            [
                "bash",
                str(script / "start-connect-server.sh"),
                "--conf",
                f"spark.connect.grpc.binding.port={port}",
                "--conf",
                f"spark.sql.warehouse.dir={work}/warehouse",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        try:
            if not wait_for(port, 120):
                print("spark connect: the server did not start", file=sys.stderr)
                return 1
            tests = Path(__file__).with_name("test_spark.py")
            return subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
                env={**os.environ, "TIDEGATE_SPARK_REMOTE": f"sc://127.0.0.1:{port}"},
                check=False,
            ).returncode
        finally:
            subprocess.run(
                ["bash", str(script / "stop-connect-server.sh")], env=env, capture_output=True, check=False
            )


if __name__ == "__main__":
    sys.exit(main())
