"""The `clicklake` command (SPEC 5)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys

from clicklake.config import ConfigError

EXIT_CONFIG, EXIT_MISSING_INPUT, EXIT_GATE, EXIT_BAD_INPUT = 2, 3, 4, 5


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(prog="clicklake", description="Clickstream lakehouse: web logs and page tags into Delta tables.")
    sub = command.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="embedded stack, sample day, whole pipeline through Airflow, summary")
    demo.add_argument("--date", type=_date, default=dt.date(2026, 11, 28), help="the sample day (default 2026-11-28)")
    demo.add_argument("--visitors", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--keep-running", action="store_true", help="leave the embedded S3 server running afterwards")

    gen = sub.add_parser("generate", help="write a realistic day of access logs and tag events (and its truth)")
    gen.add_argument("--date", type=_date, required=True)
    gen.add_argument("--out", required=True, help="landing root: a folder or s3://bucket/prefix")
    gen.add_argument("--visitors", type=int, default=2000)
    gen.add_argument("--seed", type=int, default=42)

    run = sub.add_parser("run", help="run the pipeline for one delivery date (idempotent)")
    run.add_argument("--date", type=_date, required=True)
    run.add_argument("--raw", help="landing root (default $CLICKLAKE_RAW)")
    run.add_argument("--lake", help="lake root (default $CLICKLAKE_LAKE)")
    run.add_argument("--layer", choices=("bronze", "silver", "gold", "all"), default="all",
                     help="the layer(s) to run (default all: bronze -> gate -> silver -> gate -> gold -> gate -> publish)")
    run.add_argument("--step", type=_steps, default="all",
                     help="write: stage the tables; audit: the quality gate on the staged tables; "
                          "publish: replace the published date ranges with staged tables that passed; "
                          "several joined by commas (write,audit), or all (the default: in one process, which "
                          "publishes from memory and stages batches only when a gate fails)")

    maintain = sub.add_parser("maintain", help="compact the recent date partitions of every table, then delete unneeded files (OPTIMIZE, VACUUM)")
    maintain.add_argument("--date", type=_date, required=True, help="the last date whose partitions are compacted")
    maintain.add_argument("--days", type=int, default=7, help="dates up to --date to compact (default 7)")
    maintain.add_argument("--retain-hours", type=int, default=168,
                          help="keep files older versions needed for this long (default 168, Delta's default; lower only "
                               "when no reader or writer runs meanwhile)")
    maintain.add_argument("--full-vacuum", action="store_true",
                          help="list the tables' storage for files to delete (also finds files no commit named); "
                               "default: LITE, from the Delta log")
    maintain.add_argument("--lake", help="lake root (default $CLICKLAKE_LAKE)")

    sql = sub.add_parser("sql", help="query the lake's tables by name (bronze.*, silver.*, gold.*)")
    sql.add_argument("query")
    sql.add_argument("--lake", help="lake root (default $CLICKLAKE_LAKE)")
    sql.add_argument("--format", choices=("table", "json", "csv"), default="table")
    sql.add_argument("--limit", type=int, default=1000, help="at most this many rows are printed (default 1000)")
    sql.add_argument("--engine", choices=("spark", "duckdb"), default="spark",
                     help="spark (Spark SQL, the default) or duckdb (no JVM: DuckDB over the tables' current versions, read with delta-rs)")

    serve = sub.add_parser("serve-sql", help="serve the lake's tables to JDBC/ODBC tools (Spark Thrift server, HiveServer2 protocol)")
    serve.add_argument("--lake", help="lake root (default $CLICKLAKE_LAKE)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=10000)
    serve.add_argument("--metastore", help="Hive metastore: a folder for an embedded Derby database (default .data/metastore, "
                                           "$CLICKLAKE_METASTORE), jdbc:postgresql://host:5432/db for a metastore database many servers share, "
                                           "or thrift://host:9083 for a metastore service")
    serve.add_argument("--writable", action="store_true", help="let SQL users change tables (read-only by default)")

    parse_log = sub.add_parser("parse-log", help="parse one access-log file and print statistics")
    parse_log.add_argument("file")
    parse_log.add_argument("--format", default="auto",
                           help="auto (detect from the first lines) or a format name: see jobs/logformats.py, or 'custom' with --pattern")
    parse_log.add_argument("--pattern", help="custom: regular expression with named groups (time, request, client, status, ...)")
    parse_log.add_argument("--time-format", default="dd/MMM/yyyy:HH:mm:ss Z", help="custom: Spark datetime pattern of the time group")
    parse_log.add_argument("--json", action="store_true", help="print the statistics as one JSON object")

    convert = sub.add_parser("convert-snowplow", help="turn Snowplow events (atomic CSV or enriched TSV) into landing files")
    convert.add_argument("inputs", nargs="+", metavar="IN", help="Snowplow event files (.csv, .tsv, optionally .gz)")
    convert.add_argument("--out", required=True, help="landing root: a folder or s3://bucket/prefix (events/dt=D/ is added)")
    convert.add_argument("--format", choices=("auto", "csv", "tsv"), default="auto",
                         help="csv: atomic events with a header; tsv: enriched events (131 fields); auto: by the first line")
    convert.add_argument("--iglu-schema", action="append", default=[], metavar="VENDOR/NAME",
                         help="also accept contexts and events of this Iglu schema (repeatable)")
    return command


def _steps(text: str):
    if text == "all":
        return text
    steps = tuple(text.split(","))
    unknown = [s for s in steps if s not in ("write", "audit", "publish")]
    if unknown or not steps:
        raise argparse.ArgumentTypeError(f"steps are write, audit, publish (comma-separated) or all, not {text!r}")
    return steps


def _settings(raw=None, lake=None, need_raw=True):
    from clicklake.config import Settings

    return Settings.from_env(raw=raw, lake=lake, need_raw=need_raw)


def read_error(exc: Exception) -> str | None:
    """A clear message when Spark could not read a landing file (corrupt gzip and the like)."""
    text = str(exc)
    if "FAILED_READ_FILE" not in text and "Not in GZIP format" not in text and "Unexpected end of" not in text:
        return None
    path = re.search(r"reading file (\S+?)\.?\s", text)
    cause = re.search(r"(java\.[\w.]+Exception: [^\n]*|Not in GZIP format|Unexpected end of [^\n]*)", text)
    where = path.group(1) if path else "a landing file"
    why = cause.group(1) if cause else text.splitlines()[0]
    return f"cannot read {where}: {why}. Fix or remove the file, then rerun this date."


def cmd_run(args) -> int:
    from clicklake import lake, pipeline
    from clicklake.spark import get_spark, is_remote

    settings = _settings(args.raw, args.lake)
    layers = pipeline.LAYERS if args.layer == "all" else (args.layer,)
    steps = pipeline.STEPS if args.step == "all" else args.step
    spark = get_spark(f"clicklake run {args.date} {args.layer} {args.step}", settings.s3)
    try:
        pipeline.run(spark, settings, args.date, layers=layers, steps=steps)
    finally:
        if is_remote(spark):
            # A Spark Connect server keeps a session's rows (checkpoints, staged batches) until
            # the session is released, not when its client exits.
            lake.forget_staged()
            spark.stop()
    return 0


def cmd_maintain(args) -> int:
    from clicklake import maintenance
    from clicklake.spark import get_spark

    settings = _settings(lake=args.lake, need_raw=False)
    spark = get_spark(f"clicklake maintain {args.date}", settings.s3, own_driver=True)
    reports = maintenance.maintain(spark, settings.lake, args.date, args.days, args.retain_hours, args.full_vacuum)
    for report in reports:
        print(report.line(), flush=True)
    print(json.dumps({"tables": len(reports), "compacted_removed": sum(r.compacted_removed for r in reports),
                      "compacted_added": sum(r.compacted_added for r in reports),
                      "stored_before": sum(r.stored_before for r in reports), "stored_after": sum(r.stored_after for r in reports)}))
    return 0


def cmd_generate(args) -> int:
    from clicklake.config import normalize_uri
    from clicklake.generator import generate

    summary = generate(args.date, normalize_uri(args.out), visitors=args.visitors, seed=args.seed)
    shown = {k: v for k, v in summary.items() if k != "lines_per_file"}
    print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


def cmd_sql(args) -> int:
    settings = _settings(lake=args.lake, need_raw=False)
    if args.engine == "duckdb":
        from clicklake import duck

        result = duck.connect(settings.lake, settings.s3).sql(args.query)
        columns, rows = result.columns, result.limit(args.limit).fetchall()
    else:
        from clicklake import sql_server
        from clicklake.catalog import register_tables
        from clicklake.spark import get_spark

        # A shared metastore (PostgreSQL or a service) is used as is; the embedded Derby one is held
        # by a running serve-sql, so this command registers the same names in its own session catalog.
        metastore = os.environ.get("CLICKLAKE_METASTORE", "")
        conf = sql_server.metastore_conf(metastore) if sql_server.is_shared_metastore(metastore) else None
        spark = get_spark("clicklake sql", settings.s3, extra_conf=conf, own_driver=True)
        register_tables(spark, settings.lake)
        df = spark.sql(args.query)
        columns, rows = df.columns, [tuple(r) for r in df.limit(args.limit).collect()]
    if args.format == "json":
        for row in rows:
            print(json.dumps(dict(zip(columns, row)), default=str))
    elif args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([list(r) for r in rows])
    else:
        print(format_table(columns, rows))
    return 0


def cmd_serve_sql(args) -> int:
    from clicklake import sql_server

    settings = _settings(lake=args.lake, need_raw=False)
    metastore = args.metastore or os.environ.get("CLICKLAKE_METASTORE") or sql_server.default_metastore()
    return sql_server.serve(settings, args.host, args.port, metastore, read_only=not args.writable)


def format_table(columns, rows) -> str:
    cells = [[("NULL" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |", line]
    out += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
    out += [line, f"{len(rows)} row(s)"]
    return "\n".join(out)


def cmd_parse_log(args) -> int:
    from clicklake.config import normalize_uri, spark_uri
    from clicklake.jobs import bronze, logformats, weblogs
    from clicklake.spark import get_spark

    if args.format != "auto" and args.format not in logformats.FORMATS:
        raise ConfigError(f"unknown log format {args.format!r}; use auto or one of: {', '.join(logformats.FORMATS)}")
    custom = logformats.CustomFormat(args.pattern, args.time_format) if args.pattern else None
    if args.format == "custom" and custom is None:
        raise ConfigError("--format custom needs --pattern (a regular expression with named groups)")
    if custom is not None:
        try:
            custom.java_pattern_and_groups()
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    spark = get_spark("clicklake parse-log", own_driver=True)
    lines = bronze.read_weblog_files(spark, (spark_uri(normalize_uri(args.file)),))
    formats = logformats.fixed_format(lines, args.format) if args.format != "auto" else logformats.detect_formats(lines)
    parsed = weblogs.parse_lines(lines, formats, custom)
    problems = parsed.groupBy("log_format", "problem").count().collect()
    by_problem = {r["problem"]: r["count"] for r in problems}
    stats = {
        "file": args.file,
        "format": problems[0]["log_format"] if problems else "unknown",
        "lines": sum(by_problem.values()),
        "parsed": by_problem.pop(None, 0),
        "skipped": by_problem.pop("skip", 0),
    }
    stats["quarantined"] = sum(by_problem.values())
    stats["quarantine_reasons"] = dict(sorted(by_problem.items()))
    print(json.dumps(stats) if args.json else "\n".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


def cmd_convert_snowplow(args) -> int:
    """Exit 0 when every line was converted or skipped, EXIT_BAD_INPUT when some are bad rows
    (they are in <out>/_bad/ with their reasons; the good ones are converted all the same)."""
    from clicklake import snowplow
    from clicklake.config import normalize_uri

    out = normalize_uri(args.out)
    bad = 0
    for path in args.inputs:
        report = snowplow.convert(path, out, args.format, tuple(args.iglu_schema))
        print(json.dumps({"file": path, **report.as_dict()}))
        bad += sum(report.bad.values())
    if bad:
        print(f"clicklake: {bad} bad rows not converted; see {out}/_bad/ for each line and its reason", file=sys.stderr)
    return EXIT_BAD_INPUT if bad else 0


def cmd_demo(args) -> int:
    from clicklake.demo import run_demo

    return run_demo(args.date, args.visitors, args.seed, keep_running=args.keep_running)


COMMANDS = {"run": cmd_run, "generate": cmd_generate, "sql": cmd_sql, "parse-log": cmd_parse_log, "demo": cmd_demo,
            "convert-snowplow": cmd_convert_snowplow, "serve-sql": cmd_serve_sql,
            "maintain": cmd_maintain}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from clicklake.gates import GateFailed, NotValidated
    from clicklake.landing import MissingLandingFiles

    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"clicklake: configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except MissingLandingFiles as exc:
        print(f"clicklake: missing input: {exc}", file=sys.stderr)
        return EXIT_MISSING_INPUT
    except (GateFailed, NotValidated) as exc:
        print(f"clicklake: {exc}", file=sys.stderr)
        return EXIT_GATE
    except Exception as exc:  # noqa: BLE001 - turned into a clear message where we can
        message = read_error(exc)
        if message is None:
            raise
        print(f"clicklake: bad input: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
