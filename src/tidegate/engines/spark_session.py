"""The process's one SparkSession: Spark inside the process (`master`, with a local Derby
metastore and warehouse, quiet logs, Delta when asked) or a Spark Connect server (`remote`).

Created by the first adapter that connects and shared by every adapter after it; `stop_session`
stops it, and runs at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from tidegate.engines.spark_sql import error_message
from tidegate.errors import ConfigError, EngineError
from tidegate.project.config import ConnectionConfig
from tidegate.project.dsn import expand_connection, mask, scrub

_SESSION: Any = None
_SESSION_LOCK = threading.Lock()

_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
logger.hive.name = org.apache.hadoop.hive
logger.hive.level = fatal
logger.datanucleus.name = DataNucleus
logger.datanucleus.level = fatal
"""

_DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
_DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def spark_session(connection: ConnectionConfig, root: Path) -> Any:
    """The process's SparkSession, created on first use from `connection`."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is not None and _is_alive(_SESSION):
            if connection.table_format == "delta" and not connection.remote:
                _require_delta(_SESSION)
            return _SESSION
        from pyspark.sql import SparkSession

        _quiet_python_loggers()
        builder: Any = SparkSession.builder.appName("tidegate")
        remote = expand_connection(connection.remote) if connection.remote else None
        builder = builder.remote(remote.text) if remote else _local_builder(builder, connection, root)
        try:
            session = builder.getOrCreate()
        except Exception as error:
            # Spark Connect may quote the URL, token included: neither is ever shown.
            where = mask(remote.text) if remote else connection.master
            reason = mask(scrub(error_message(error), remote.secrets)) if remote else error_message(error)
            raise EngineError(f"cannot start Spark ({where}): {reason}") from None
        if not connection.remote:
            session.sparkContext.setLogLevel("ERROR")
        if _SESSION is None:
            atexit.register(stop_session)
        _SESSION = session
        return session


def stop_session() -> None:
    """Stop the process's SparkSession (at interpreter exit, or when a test suite is done)."""
    global _SESSION
    with _SESSION_LOCK:
        session, _SESSION = _SESSION, None
    if session is not None:
        with contextlib.suppress(Exception):  # the JVM may already be gone at exit
            session.stop()


def _is_alive(session: Any) -> bool:
    try:
        if getattr(session, "is_stopped", False):  # Spark Connect
            return False
        context = getattr(session, "_sc", None)
        return context is None or context._jsc is not None
    except Exception:  # pragma: no cover - defensive
        return False


def _local_builder(builder: Any, connection: ConnectionConfig, root: Path) -> Any:
    import sys

    warehouse = (root / connection.warehouse_dir).resolve()
    warehouse.mkdir(parents=True, exist_ok=True)
    log4j = Path(tempfile.gettempdir()) / "tidegate-spark-log4j2.properties"
    if not log4j.exists() or log4j.read_text() != _LOG4J:
        log4j.write_text(_LOG4J)
    java_options = (
        f"-Dlog4j2.configurationFile={log4j} -Dderby.system.home={warehouse} "
        f"-Dderby.stream.error.file={warehouse / 'derby.log'}"
    )
    builder = (
        builder.master(connection.master)
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.catalogImplementation", "hive")  # falls back to in-memory without Hive
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={warehouse / 'metastore_db'};create=true",
        )
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(_cores(connection.master) * 2))
        .config("spark.default.parallelism", str(_cores(connection.master) * 2))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
    )
    if connection.table_format == "delta":
        try:
            from delta import configure_spark_with_delta_pip
        except ImportError:
            raise ConfigError(
                "table_format: delta needs delta-spark, which is not installed",
                hint="pip install delta-spark (the version matching your pyspark)",
            ) from None
        builder = configure_spark_with_delta_pip(
            builder.config("spark.sql.extensions", _DELTA_EXTENSION).config(
                "spark.sql.catalog.spark_catalog", _DELTA_CATALOG
            )
        )
    return builder


def _require_delta(session: Any) -> None:
    extensions = session.conf.get("spark.sql.extensions", "") or ""
    if _DELTA_EXTENSION not in extensions:
        raise ConfigError(
            "table_format: delta, but this process's Spark session was started without Delta",
            hint="use one table_format per process (pip install delta-spark for delta)",
        )


def _cores(master: str) -> int:
    match = re.fullmatch(r"local\[(\d+)(?:,\d+)?\]", master.strip())
    if match:
        return max(1, int(match.group(1)))
    if master.strip() in ("local", "local[*]"):
        return 1 if master.strip() == "local" else 4
    return 100  # a cluster: Spark's default of 200 shuffle partitions halved


def _quiet_python_loggers() -> None:
    """PySpark logs every SQL error it raises; tidegate reports them itself."""
    import logging

    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pragma: no cover - PySpark < 4
        return
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
