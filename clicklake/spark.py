"""The SparkSession: Delta Lake, S3A and settings that suit both a laptop and a cluster.

Jars come from Maven Central through Spark's Ivy into an ignored cache folder of the checkout. The
first session resolves them (`spark.jars.packages`) and writes the list of resolved files; later
sessions pass those files directly (`spark.jars`) and start without touching the network.
When spark-submit or a cluster already provides the jars, set CLICKLAKE_SPARK_JARS=provided.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from clicklake.config import S3Settings, repo_root
from clicklake.tables import UNIQUE_VALUED_COLUMNS

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
# Delta's artifact carries the Spark version; hadoop-aws must equal the hadoop client inside pyspark.
SPARK_PACKAGES = (
    "io.delta:delta-spark_4.1_2.13:4.4.0",
    "org.apache.hadoop:hadoop-aws:3.4.2",
    # The JDBC driver of a Hive metastore kept in PostgreSQL (serve-sql --metastore jdbc:postgresql://...).
    "org.postgresql:postgresql:42.7.8",
)

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    configured = os.environ.get("CLICKLAKE_CACHE_DIR")
    if configured:
        return Path(configured)
    root = repo_root()
    return (root / ".cache") if root else Path.home() / ".cache" / "clicklake"


def _jar_manifest() -> Path:
    # First line: the coordinates it was resolved for, so a version bump resolves again.
    return cache_dir() / "ivy" / "resolved-jars.txt"


def cached_jars() -> list[str] | None:
    """The jars an earlier resolution recorded (make setup), if they are for SPARK_PACKAGES and all
    still on disk; None: resolve through Ivy. The Thrift server's JVM is given the same list."""
    manifest = _jar_manifest()
    if not manifest.is_file():
        return None
    lines = manifest.read_text().split("\n")
    if lines[0] != ",".join(SPARK_PACKAGES):
        return None
    jars = [j for j in lines[1:] if j]
    if not jars or not all(Path(j).is_file() for j in jars):
        return None
    return jars


# Jars a JVM on this machine takes on its own class path rather than through spark.jars: every
# JVM copied each spark.jars file into its scratch folder before its first task, 702 MB a JVM
# (the pytest session, the Connect and Thrift servers, each executor of the test cluster), 626 MB
# of it the AWS SDK bundle, which shades its own dependencies and so clashes with nothing of Spark's.
CLASS_PATH_JARS = ("awssdk_bundle-",)


def on_this_machine(master: str) -> bool:
    """Every JVM of an application with this master runs here: local mode, or a cluster on 127.0.0.1."""
    return master.startswith("local") or master.split("://")[-1].startswith(("127.0.0.1:", "localhost:"))


def jar_settings(jars: list[str], master: str) -> dict[str, str]:
    """spark.jars and the class paths for the resolved `jars`. The class path only where every JVM
    of the application runs on this machine, where the files are at the same paths; a remote
    cluster's executors are sent every jar."""
    own = [j for j in jars if any(part in Path(j).name for part in CLASS_PATH_JARS)] if on_this_machine(master) else []
    conf = {"spark.jars": ",".join(j for j in jars if j not in own)}
    if own:
        conf["spark.driver.extraClassPath"] = conf["spark.executor.extraClassPath"] = ":".join(own)
    return conf


def _record_jars(spark) -> None:
    jars = [j.removeprefix("file://").removeprefix("file:") for j in spark.conf.get("spark.jars", "").split(",") if j]
    if jars:
        _jar_manifest().write_text("\n".join([",".join(SPARK_PACKAGES), *jars]) + "\n")


def s3a_options(s3: S3Settings) -> dict[str, str]:
    """Hadoop S3A settings for a custom endpoint; with none, S3A's AWS defaults apply."""
    opts = {
        "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "fs.s3a.endpoint.region": s3.region,
        # Delta commits rename nothing on S3, but S3A's magic committer is not needed either.
        "fs.s3a.committer.name": "file",
    }
    if s3.endpoint:
        opts.update(
            {
                "fs.s3a.endpoint": s3.endpoint,
                "fs.s3a.path.style.access": "true",
                "fs.s3a.connection.ssl.enabled": str(s3.endpoint.startswith("https")).lower(),
                # SeaweedFS and some other S3 servers do not return the ETag/version S3A checks.
                "fs.s3a.change.detection.mode": "none",
            }
        )
    if s3.access_key and s3.secret_key:
        opts.update(
            {
                "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
                "fs.s3a.access.key": s3.access_key,
                "fs.s3a.secret.key": s3.secret_key,
            }
        )
    return opts


# SQL settings a session sets for itself; under Spark Connect they are all a client can set (the
# server's own settings, jars and S3A credentials are fixed when it starts).
def session_conf() -> dict[str, str]:
    return {
        # Every timestamp in the lake is UTC; parsing honours the offset written in each line.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": os.environ.get("CLICKLAKE_SHUFFLE_PARTITIONS", str(SHUFFLE_PARTITIONS)),
        # Delta rebuilds table state with this many tasks; the default of 50 is for clusters.
        "spark.databricks.delta.snapshotPartitions": os.environ.get("CLICKLAKE_DELTA_SNAPSHOT_PARTITIONS", "2"),
        "spark.databricks.delta.properties.defaults.enableChangeDataFeed": "false",
    }


def parquet_write_conf() -> dict[str, str]:
    """Parquet writer settings by column (tables.UNIQUE_VALUED_COLUMNS). Set on a session once it
    exists: Spark copies SQL settings into each write's Hadoop configuration (a Spark Connect
    client can set them too), whereas at launch spark-submit drops, with a warning each, any
    setting not named spark.*."""
    return {f"parquet.enable.dictionary#{column}": "false" for column in UNIQUE_VALUED_COLUMNS}


def is_remote(spark) -> bool:
    """A Spark Connect session: no SparkContext, no JVM in this process (no Hadoop file system
    either: files are listed and deleted through clicklake.storage instead)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


# HotSpot leaves a method of over 8,000 bytes of bytecode to the interpreter, and a fused stage
# of many string expressions generates one: the tag events' last pass (typing, URL and e-mail
# patterns, campaign fields, the joins, the Parquet write) was 8,874 bytes after the IPv6 mend,
# 12,571 before. Compiled anyway, writing 1.4M events took 13.9-14.0 s instead of 20.0-22.6 s,
# and `make bench-parse` ran 88,997 / 52,466 lines/s against 72,929 / 46,203 (2026-12-02).
COMPILE_HUGE_METHODS = "-XX:-DontCompileHugeMethods"


def get_spark(app_name: str = "clicklake", s3: S3Settings | None = None, extra_conf: dict[str, str] | None = None,
              own_driver: bool = False):
    """Return the active session, or build one configured for clicklake (plus `extra_conf`).

    With CLICKLAKE_SPARK_REMOTE=sc://host:port the session is a Spark Connect client of a running
    server (`infra/spark-connect`): no driver starts in this process, which is what makes a
    short task (an Airflow task of a small day) cheap. `own_driver` ignores it, for what needs a
    JVM of its own (the Thrift server, the Connect server itself, table maintenance)."""
    from pyspark.sql import SparkSession

    remote = None if own_driver else os.environ.get("CLICKLAKE_SPARK_REMOTE")
    if remote:
        spark = SparkSession.builder.remote(remote).getOrCreate()
        for key, value in {**session_conf(), **parquet_write_conf(), **(extra_conf or {})}.items():
            spark.conf.set(key, value)
        return spark

    active = SparkSession.getActiveSession()
    if active is not None:
        return active

    s3 = s3 or S3Settings.from_env()
    # Python workers (the user-agent pandas_udf) must run the interpreter that has clicklake.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    # "provided" leaves the master to spark-submit (cluster runs); the default is this machine.
    master = os.environ.get("CLICKLAKE_SPARK_MASTER", "local[2]")
    if master != "provided":
        builder = builder.master(master)

    jar_mode = os.environ.get("CLICKLAKE_SPARK_JARS", "auto")
    cached = cached_jars() if jar_mode == "auto" else None
    jar_conf: dict[str, str] = {}
    if jar_mode == "provided":
        pass
    elif cached:
        jar_conf = jar_settings(cached, master)
    else:
        ivy = cache_dir() / "ivy"
        ivy.mkdir(parents=True, exist_ok=True)
        builder = builder.config("spark.jars.packages", ",".join(SPARK_PACKAGES)).config("spark.jars.ivy", str(ivy))

    conf = {
        **session_conf(),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.driver.memory": os.environ.get("CLICKLAKE_DRIVER_MEMORY", "3g"),
        # Only for a cluster master: local mode runs its tasks inside the driver.
        "spark.executor.memory": os.environ.get("CLICKLAKE_EXECUTOR_MEMORY", "2g"),
        "spark.ui.enabled": os.environ.get("CLICKLAKE_SPARK_UI", "false"),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(cache_dir() / "spark-warehouse"),
        # The throughput collector, not G1: G1's concurrent threads compete with the tasks for a
        # small machine's cores. A 1M-record day ran in 199 s instead of 233 s, a 10M-record day
        # in 1,011 s instead of 1,091 s (that one ran out of memory in a 3g driver while the
        # materialized frames were held in the heap; see local_checkpoint).
        # CLICKLAKE_DRIVER_JAVA_OPTIONS replaces it (-XX:+UseG1GC for G1).
        "spark.driver.extraJavaOptions": " ".join(filter(None, (
            os.environ.get("CLICKLAKE_DRIVER_JAVA_OPTIONS", "-XX:+UseParallelGC " + COMPILE_HUGE_METHODS),
            "-Dderby.system.home=" + str(cache_dir() / "derby")))),
        "spark.executor.extraJavaOptions": os.environ.get("CLICKLAKE_EXECUTOR_JAVA_OPTIONS", COMPILE_HUGE_METHODS),
    }
    if on_this_machine(master):
        # Keep the driver off the network; a remote cluster's executors must reach it by its address.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf.update({"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"})
    extra = dict(extra_conf or {})
    for key in ("spark.driver.extraClassPath", "spark.executor.extraClassPath"):
        # A caller's class path (the Thrift server's) comes first; ours is added to it, once.
        entries = [e for part in (extra.pop(key, ""), jar_conf.pop(key, "")) for e in part.split(":") if e]
        if entries:
            conf[key] = ":".join(dict.fromkeys(entries))
    conf.update(jar_conf)
    conf.update(extra)
    for key, value in conf.items():
        builder = builder.config(key, value)
    for key, value in s3a_options(s3).items():
        builder = builder.config("spark.hadoop." + key, value)

    spark = builder.getOrCreate()
    for key, value in parquet_write_conf().items():
        spark.conf.set(key, value)
    spark.sparkContext.setLogLevel(os.environ.get("CLICKLAKE_SPARK_LOG_LEVEL", "ERROR"))
    logging.getLogger("py4j").setLevel(logging.WARNING)
    if jar_mode == "auto" and not cached:
        _record_jars(spark)
    return spark


# Whole-stage code generation compiles Java for every new query plan. On a day of a few million
# lines or fewer that compiling costs more than it saves (measured: a 7,600-line day ran in 53 s
# interpreted against 81 s compiled); bigger days keep it.
CODEGEN_MIN_INPUT_BYTES = 32 * 1024 * 1024

# Shuffle partitions (CLICKLAKE_SHUFFLE_PARTITIONS replaces both): 8 spread a big day's shuffles
# over a 2-core machine's cores a few times over; a day under CODEGEN_MIN_INPUT_BYTES has so few
# rows that every task more is only overhead. Small days (150 visitors, four a process, three
# processes each way, interleaved): the first of a new process 54, 57, 60 s with 2 against 65, 68,
# 60 s with 8; the later ones 35.4 s against 38.0 s on average (2026-12-01).
SHUFFLE_PARTITIONS = 8
SMALL_DAY_SHUFFLE_PARTITIONS = 2


def tune_for_input(spark, input_bytes: int) -> bool:
    """Switch code generation, and choose the shuffle partitions, by the size of the run's landing
    files; returns whether code generation is on.

    CLICKLAKE_SPARK_CODEGEN=on|off and CLICKLAKE_SHUFFLE_PARTITIONS override the automatic choices.
    """
    small = input_bytes < CODEGEN_MIN_INPUT_BYTES
    partitions = os.environ.get("CLICKLAKE_SHUFFLE_PARTITIONS") or str(
        SMALL_DAY_SHUFFLE_PARTITIONS if small else SHUFFLE_PARTITIONS)
    spark.conf.set("spark.sql.shuffle.partitions", partitions)
    mode = os.environ.get("CLICKLAKE_SPARK_CODEGEN", "auto")
    enabled = mode == "on" or (mode == "auto" and not small)
    spark.conf.set("spark.sql.codegen.wholeStage", str(enabled).lower())
    spark.conf.set("spark.sql.codegen.factoryMode", "FALLBACK" if enabled else "NO_CODEGEN")
    return enabled


def local_checkpoint(df):
    """df's rows computed now and kept by this process's block manager, cut from their lineage.

    Kept on local disk, not in the JVM heap: a day's intermediate frames outlive many garbage
    collections and fill a 3g driver's storage memory, which the collector then copies and the
    block manager evicts. Written to local files (the page cache holds them) they cost one
    serialization: a 1M-record day ran in 191 s instead of 230 s (silver 74 s instead of 99 s);
    classifying 2M access-log lines and keeping them, 11 s instead of 14 s (2026-11-30)."""
    from pyspark import StorageLevel

    return df.localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)


@contextlib.contextmanager
def jobs_named(spark, description: str):
    """Name the Spark jobs started inside (this thread's), as the Spark UI, the history server and
    the event log show them: without it every job is "save at NativeMethodAccessorImpl.java:0".
    A Spark Connect client cannot set it (the server names jobs by their operation)."""
    if is_remote(spark):
        yield
        return
    context = spark.sparkContext
    before = context.getLocalProperty("spark.job.description")
    context.setJobDescription(description)
    try:
        yield
    finally:
        context.setJobDescription(before)


def caller_line(depth: int = 2) -> str:
    """`file.py:line function` of a caller: which line of a job a materialized frame comes from."""
    frame = sys._getframe(depth)
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"


if __name__ == "__main__":
    # `python -m clicklake.spark`: resolve and cache the jars (what `make setup` runs).
    session = get_spark("clicklake setup", own_driver=True)
    print("Spark", session.version, "with Delta Lake and S3A jars:", _jar_manifest())
    session.stop()
