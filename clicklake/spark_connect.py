"""A long-lived Spark Connect server with clicklake's settings (Delta Lake, S3A, the cached jars):
`clicklake run` attaches to it with CLICKLAKE_SPARK_REMOTE=sc://127.0.0.1:15002 instead of
starting a Spark driver of its own.

Why: under Airflow every task is a process, and a process that starts its own driver pays the
JVM's start and its warm-up again (a task of a small day: ~25-40 s, most of it that). Tasks that
attach to one warm server pay neither. Started and stopped by `infra/spark-connect`.

    python -m clicklake.spark_connect [--port 15002]     # foreground; SIGTERM or Ctrl-C stops it
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"
DEFAULT_PORT = 15002


def serve(port: int = DEFAULT_PORT) -> None:
    from clicklake.spark import get_spark

    master = os.environ.get("CLICKLAKE_SPARK_MASTER", "local[2]")
    if not master.startswith("local"):
        # On a cluster the pipeline checkpoints its frames into the lake (pipeline.Batches), which
        # needs SparkContext.setCheckpointDir: a Connect client cannot call it.
        sys.exit(f"clicklake.spark_connect: the server runs on a local master, not {master!r}; "
                 "on a cluster, run `clicklake run` with its own driver (spark-submit, infra/README.md)")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # The plugin starts the gRPC service inside this driver: one JVM, clicklake's settings for
    # every client session; clients set only their own SQL settings (spark.session_conf).
    spark = get_spark("clicklake Spark Connect server", own_driver=True, extra_conf={
        "spark.plugins": CONNECT_PLUGIN,
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
    })
    print(f"Spark Connect server: sc://127.0.0.1:{port} (Spark {spark.version})", flush=True)
    stop.wait()
    spark.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clicklake.spark_connect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve(parser.parse_args(argv).port)


if __name__ == "__main__":
    main()
