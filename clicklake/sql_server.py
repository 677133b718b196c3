"""`clicklake serve-sql`: Spark's Thrift JDBC/ODBC server (the HiveServer2 protocol that beeline,
DBeaver, Superset and Tableau speak) over a lake's tables, named `layer.table` in a persistent Hive
metastore.

The metastore is an embedded Derby database in a folder by default (one process at a time may
open it: this server while it runs), or a shared metastore service (`thrift://host:9083`, backed by
PostgreSQL or MySQL in production) that many servers and clusters use at once.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from pathlib import Path

from clicklake.config import ConfigError, Settings, repo_root


def default_metastore() -> str:
    root = repo_root()
    return str((root / ".data" / "metastore") if root else Path.home() / ".local" / "share" / "clicklake" / "metastore")


def metastore_conf(metastore: str) -> dict[str, str]:
    """Spark settings for a Hive metastore: a folder (embedded Derby) or a thrift:// service."""
    conf = {"spark.sql.catalogImplementation": "hive"}
    if metastore.startswith("thrift://"):
        conf["spark.hadoop.hive.metastore.uris"] = metastore
        return conf
    if "://" in metastore:
        raise ConfigError(f"the metastore is a folder (embedded Derby) or thrift://host:port, not {metastore!r}")
    folder = Path(metastore).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    conf.update({
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true",
        # Names only: every table lives at its lake location, nothing is written here.
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
    })
    return conf


def server_conf(host: str, port: int, read_only: bool) -> dict[str, str]:
    from clicklake.spark import read_only_extension_jar, server_classpath

    classpath = server_classpath()
    conf = {
        "spark.hadoop.hive.server2.thrift.bind.host": host,
        "spark.hadoop.hive.server2.thrift.port": str(port),
        "spark.hadoop.hive.server2.transport.mode": "binary",
    }
    if read_only:
        classpath.append(str(read_only_extension_jar()))
        conf["spark.sql.extensions"] = "io.delta.sql.DeltaSparkSessionExtension,clicklake.jvm.ReadOnlyExtension"
    conf["spark.driver.extraClassPath"] = ":".join(classpath)
    return conf


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.5)
    return False


def serve(settings: Settings, host: str, port: int, metastore: str, read_only: bool = True, out=sys.stdout) -> int:
    from clicklake.catalog import register_tables
    from clicklake.spark import get_spark

    with socket.socket() as sock:
        if sock.connect_ex((host, port)) == 0:
            raise ConfigError(f"port {port} on {host} is taken: stop what listens there or pass --port")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    conf = {**metastore_conf(metastore), **server_conf(host, port, read_only)}
    spark = get_spark("clicklake serve-sql", settings.s3, extra_conf=conf)
    try:
        names = register_tables(spark, settings.lake)
        if not names:
            raise ConfigError(f"no clicklake tables under {settings.lake}: run the pipeline first (make demo)")
        if read_only:
            spark._jvm.clicklake.jvm.ReadOnlyExtension.enable()
        thrift = spark._jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
        server = thrift.startWithSparkSession(spark._jsparkSession, False)
        try:
            if not wait_for_port(host, port, 120):
                raise RuntimeError(f"the Thrift server did not listen on {host}:{port} within 120 s")
            mode = "read-only" if read_only else "read-write"
            print(f"serving {len(names)} tables of {settings.lake} ({mode}); metastore {metastore}", file=out)
            print(f"JDBC URL: jdbc:hive2://{host}:{port}/default   (beeline -u <url>; Ctrl-C stops)", file=out, flush=True)
            stop.wait()
        finally:
            server.stop()
    finally:
        spark.stop()
    print("stopped", file=out, flush=True)
    return 0
