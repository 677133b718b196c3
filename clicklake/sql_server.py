"""`clicklake serve-sql`: Spark's Thrift JDBC/ODBC server (the HiveServer2 protocol that beeline,
DBeaver, Superset and Tableau speak) over a lake's tables, named `layer.table` in a persistent Hive
metastore.

The metastore is an embedded Derby database in a folder by default (one process at a time may
open it: this server while it runs), or one that many servers and clusters use at once: a
PostgreSQL database that each of them opens itself (`jdbc:postgresql://host:5432/db`), or a
metastore service (`thrift://host:9083`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from clicklake.config import ConfigError, Settings, repo_root
from clicklake.spark import DELTA_EXTENSION, cache_dir, cached_jars, get_spark


def default_metastore() -> str:
    root = repo_root()
    return str((root / ".data" / "metastore") if root else Path.home() / ".local" / "share" / "clicklake" / "metastore")


def is_shared_metastore(metastore: str) -> bool:
    return metastore.startswith(("thrift://", "jdbc:postgresql://"))


def password_on_class_path() -> list[str]:
    """CLICKLAKE_METASTORE_PASSWORD as a hive-site.xml in a folder only this user can read, for the
    JVM's class path (Spark and Hive read that file from there): every Spark setting is handed to
    spark-submit as a command-line argument, which any user of the machine can list."""
    password = os.environ.get("CLICKLAKE_METASTORE_PASSWORD")
    if not password:
        return []
    folder = Path(tempfile.mkdtemp(prefix="clicklake-metastore-"))  # mode 0700
    atexit.register(shutil.rmtree, folder, True)
    with os.fdopen(os.open(folder / "hive-site.xml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as site:
        site.write('<?xml version="1.0"?>\n<configuration><property><name>javax.jdo.option.ConnectionPassword</name>'
                   f"<value>{xml_escape(password)}</value></property></configuration>\n")
    return [str(folder)]


def metastore_conf(metastore: str) -> dict[str, str]:
    """Spark settings for a Hive metastore: a folder (embedded Derby), a PostgreSQL database
    (jdbc:postgresql://host:port/db; user and password from CLICKLAKE_METASTORE_USER and
    CLICKLAKE_METASTORE_PASSWORD, the password kept off command lines) or a thrift:// service."""
    conf = {"spark.sql.catalogImplementation": "hive"}
    if metastore.startswith("thrift://"):
        conf["spark.hadoop.hive.metastore.uris"] = metastore
        return conf
    if metastore.startswith("jdbc:postgresql://"):
        conf.update({
            "spark.hadoop.javax.jdo.option.ConnectionURL": metastore,
            "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
            "spark.hadoop.javax.jdo.option.ConnectionUserName": os.environ.get("CLICKLAKE_METASTORE_USER", "clicklake"),
            # The first process to open an empty database creates the metastore's tables in it, as
            # it first needs each. Without foreign keys: DataNucleus adds those from a second
            # connection while the first one's transaction holds the rows they point at, and on
            # PostgreSQL that waits forever (seen here: the first CREATE TABLE never returned).
            "spark.hadoop.datanucleus.schema.autoCreateAll": "false",
            "spark.hadoop.datanucleus.schema.autoCreateTables": "true",
            "spark.hadoop.datanucleus.schema.autoCreateColumns": "true",
            "spark.hadoop.datanucleus.schema.autoCreateConstraints": "false",
            "spark.hadoop.hive.metastore.schema.verification": "false",
            # java.sql.DriverManager finds the driver only on the JVM's own class path, not in spark.jars.
            "spark.driver.extraClassPath": ":".join(resolved_jars("postgresql-") + password_on_class_path()),
        })
        return conf
    if "://" in metastore:
        raise ConfigError("the metastore is a folder (embedded Derby), jdbc:postgresql://host:port/db or "
                          f"thrift://host:port, not {metastore!r}")
    folder = Path(metastore).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    conf.update({
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true",
        # Names only: every table lives at its lake location, nothing is written here.
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
    })
    return conf


def read_only_extension_jar() -> Path:
    """The jar of clicklake's read-only check (clicklake/jvm/ReadOnlyExtension.java).

    The class is compiled once with the JDK's javac against pyspark's jars into the cache folder;
    a new source compiles again. It checks nothing until the JVM calls its enable().
    """
    import hashlib
    import shutil
    import subprocess
    import tempfile
    import zipfile

    import pyspark

    source = Path(__file__).resolve().parent / "jvm" / "ReadOnlyExtension.java"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    jar = cache_dir() / "jvm" / f"clicklake-readonly-{digest}.jar"
    if not jar.is_file():
        javac = shutil.which("javac")
        if javac is None:
            raise RuntimeError("the read-only SQL server compiles a small Java class once and needs a JDK's javac "
                               "(Debian: apt-get install openjdk-17-jdk-headless); or start it with --writable")
        jars = Path(pyspark.__file__).resolve().parent / "jars"
        with tempfile.TemporaryDirectory() as build:
            subprocess.run([javac, "-nowarn", "-cp", str(jars / "*"), "-d", build, str(source)], check=True)
            jar.parent.mkdir(parents=True, exist_ok=True)
            partial = jar.with_suffix(".tmp")
            with zipfile.ZipFile(partial, "w") as out:
                for cls in Path(build).rglob("*.class"):
                    out.write(cls, cls.relative_to(build).as_posix())
            partial.replace(jar)
    return jar


# Of the resolved jars, those the Thrift server's sessions load classes from by name (the Delta
# catalog, S3A). Not their dependencies: pyspark's own versions of those (Jackson) must win.
SERVER_CLASSPATH_JARS = ("delta-spark_", "delta-storage-", "hadoop-aws-", "awssdk_bundle-", "analyticsaccelerator-s3-")


def resolved_jars(*name_parts: str) -> list[str]:
    """The resolved jars whose file names hold one of `name_parts`."""
    jars = cached_jars()
    if jars is None:
        raise RuntimeError("the Delta and S3A jars are not resolved yet: run `make setup` (or any clicklake run) first")
    return [j for j in jars if any(part in Path(j).name for part in name_parts)]


def server_classpath() -> list[str]:
    """The Delta and S3A jars, for the driver's own class path: the Thrift server opens its
    sessions on threads that do not see jars added through spark.jars."""
    return resolved_jars(*SERVER_CLASSPATH_JARS)


def server_conf(host: str, port: int, read_only: bool) -> dict[str, str]:
    classpath = server_classpath()
    conf = {
        "spark.hadoop.hive.server2.thrift.bind.host": host,
        "spark.hadoop.hive.server2.thrift.port": str(port),
        "spark.hadoop.hive.server2.transport.mode": "binary",
    }
    if read_only:
        classpath.append(str(read_only_extension_jar()))
        conf["spark.sql.extensions"] = f"{DELTA_EXTENSION},clicklake.jvm.ReadOnlyExtension"
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

    with socket.socket() as sock:
        if sock.connect_ex((host, port)) == 0:
            raise ConfigError(f"port {port} on {host} is taken: stop what listens there or pass --port")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    metastore_settings, server_settings = metastore_conf(metastore), server_conf(host, port, read_only)
    # Both may put entries on the driver's class path (a PostgreSQL metastore's driver and password).
    classpath = [c["spark.driver.extraClassPath"] for c in (server_settings, metastore_settings) if c.get("spark.driver.extraClassPath")]
    conf = {**metastore_settings, **server_settings, "spark.driver.extraClassPath": ":".join(classpath)}
    spark = get_spark("clicklake serve-sql", settings.s3, extra_conf=conf, own_driver=True)
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
            # A JDBC URL may carry credentials in its query string: that part is not printed.
            print(f"serving {len(names)} tables of {settings.lake} ({mode}); metastore {metastore.split('?')[0]}", file=out)
            print(f"JDBC URL: jdbc:hive2://{host}:{port}/default   (beeline -u <url>; Ctrl-C stops)", file=out, flush=True)
            stop.wait()
        finally:
            server.stop()
    finally:
        spark.stop()
    print("stopped", file=out, flush=True)
    return 0
