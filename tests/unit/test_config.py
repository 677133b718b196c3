"""Settings come from flags and the environment, with clear errors when something is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from clicklake.config import ConfigError, Settings, normalize_uri, spark_uri

BASE = {"CLICKLAKE_RAW": "s3://b/raw", "CLICKLAKE_LAKE": "s3://b/lake/", "CLICKLAKE_VISITOR_HASH_KEY": "k"}


@pytest.mark.parametrize(
    "env, message",
    [
        ({**BASE, "CLICKLAKE_RAW": ""}, "CLICKLAKE_RAW"),
        ({**BASE, "CLICKLAKE_LAKE": ""}, "CLICKLAKE_LAKE"),
        ({**BASE, "CLICKLAKE_VISITOR_HASH_KEY": ""}, "CLICKLAKE_VISITOR_HASH_KEY"),
        ({**BASE, "CLICKLAKE_SESSION_TIMEOUT_MIN": "thirty"}, "whole number"),
        ({**BASE, "CLICKLAKE_SESSION_MAX_HOURS": "48"}, "between 1 and 24"),
        ({**BASE, "CLICKLAKE_LATE_DAYS": "-1"}, "zero or more"),
        ({**BASE, "CLICKLAKE_MAX_QUARANTINE_SHARE": "1.5"}, "CLICKLAKE_MAX_QUARANTINE_SHARE must be between 0 and 1"),
        ({**BASE, "CLICKLAKE_MIN_VOLUME_RATIO": "half"}, "CLICKLAKE_MIN_VOLUME_RATIO must be a number"),
        ({**BASE, "CLICKLAKE_LOG_FORMATS": "cdn=cloudfront"}, r"unknown formats \['cloudfront'\]"),
        ({**BASE, "CLICKLAKE_LOG_FORMATS": "cdn"}, "items are host-prefix=format"),
        ({**BASE, "CLICKLAKE_LOG_FORMATS": "legacy=custom"}, "set CLICKLAKE_LOG_PATTERN"),
        ({**BASE, "CLICKLAKE_LOG_PATTERN": r"^(?P<ip>\S+)$"}, "CLICKLAKE_LOG_PATTERN: custom log pattern groups"),
        ({**BASE, "CLICKLAKE_FUNNELS": "/nonexistent/funnels.yml"}, "CLICKLAKE_FUNNELS names /nonexistent/funnels.yml"),
        ({**BASE, "CLICKLAKE_TOP_PATHS": "0"}, "CLICKLAKE_TOP_PATHS must be 1 or more"),
    ],
    ids=["no raw", "no lake", "no hash key", "timeout not a number", "sessions longer than a day", "negative lateness",
         "a quarantine share above 1", "a volume ratio that is not a number", "an unknown log format",
         "a format without its host prefix", "custom format without a pattern", "a pattern without time and request",
         "a funnels file that is not there", "no top paths"],
)
def test_bad_settings_are_named(monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env()


def test_flags_win_over_the_environment_and_uris_are_normalized(monkeypatch, tmp_path):
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env(raw=str(tmp_path / "r") + "/", lake=None)
    assert settings.raw == str(tmp_path / "r") and settings.lake == "s3://b/lake"


def test_log_formats_per_host_prefix(monkeypatch):
    for key, value in {**BASE, "CLICKLAKE_LOG_FORMATS": " cdn-=cloudfront_web, legacy=custom ",
                       "CLICKLAKE_LOG_PATTERN": r"^(?P<client>\S+) \[(?P<time>[^\]]+)\] (?P<request>.*)$"}.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    assert settings.log_formats == (("cdn-", "cloudfront_web"), ("legacy", "custom"))
    assert settings.custom_log_format().time_format == "dd/MMM/yyyy:HH:mm:ss Z"


def test_funnels_from_the_file_named_in_the_environment(monkeypatch, tmp_path):
    funnels = tmp_path / "funnels.yml"
    funnels.write_text("funnels:\n  - name: signup\n    conversion: true\n    steps:\n      - {name: form, path: /signup}\n"
                       "      - {name: done, regex: '/signup/(done|thanks)'}\n")
    for key, value in {**BASE, "CLICKLAKE_FUNNELS": str(funnels)}.items():
        monkeypatch.setenv(key, value)
    (signup,) = Settings.from_env().funnels
    assert (signup.name, signup.conversion, [s.regex for s in signup.steps]) == (
        "signup", True, ["^/signup$", "^(?:/signup/(done|thanks))$"])


def test_reading_the_lake_needs_neither_raw_nor_the_key(monkeypatch):
    monkeypatch.setenv("CLICKLAKE_LAKE", "s3://b/lake")
    monkeypatch.delenv("CLICKLAKE_RAW", raising=False)
    monkeypatch.delenv("CLICKLAKE_VISITOR_HASH_KEY", raising=False)
    assert Settings.from_env(need_raw=False).lake == "s3://b/lake"


@pytest.mark.parametrize("uri, expected", [("s3://b/x", "s3a://b/x"), ("s3a://b/x", "s3a://b/x"), ("/tmp/x", "/tmp/x")])
def test_spark_reaches_s3_through_s3a(uri, expected):
    assert spark_uri(uri) == expected


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_uri("lake") == str(tmp_path / "lake")


METASTORE_CASES = [
    ("a folder is an embedded Derby database in it", "{tmp}/ms",
     {"spark.hadoop.javax.jdo.option.ConnectionURL": "jdbc:derby:;databaseName={tmp}/ms/metastore_db;create=true"}),
    ("a PostgreSQL database: its URL as given, user and password from the environment", "jdbc:postgresql://db:5432/hms",
     {"spark.hadoop.javax.jdo.option.ConnectionURL": "jdbc:postgresql://db:5432/hms",
      "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
      "spark.hadoop.javax.jdo.option.ConnectionUserName": "hive",
      "spark.hadoop.datanucleus.schema.autoCreateTables": "true",
      "spark.hadoop.datanucleus.schema.autoCreateConstraints": "false"}),
    ("a metastore service by its thrift URI", "thrift://hms:9083", {"spark.hadoop.hive.metastore.uris": "thrift://hms:9083"}),
]


@pytest.mark.parametrize("description, metastore, expected", METASTORE_CASES, ids=[c[0] for c in METASTORE_CASES])
def test_metastore_settings(monkeypatch, tmp_path, description, metastore, expected):
    from clicklake import sql_server

    monkeypatch.setattr(sql_server, "cached_jars", lambda: ["/jars/org.postgresql_postgresql-42.7.8.jar", "/jars/other.jar"])
    monkeypatch.setenv("CLICKLAKE_METASTORE_USER", "hive")
    monkeypatch.setenv("CLICKLAKE_METASTORE_PASSWORD", "s3<cret")
    conf = sql_server.metastore_conf(metastore.format(tmp=tmp_path))
    assert conf["spark.sql.catalogImplementation"] == "hive"
    assert {key: conf.get(key) for key in expected} == {k: v.format(tmp=tmp_path) for k, v in expected.items()}
    # Every setting reaches spark-submit's command line: the password never is one.
    assert not any("s3<cret" in value or "s3&lt;cret" in value for value in conf.values())
    if metastore.startswith("jdbc:"):
        driver, secrets = conf["spark.driver.extraClassPath"].split(":")
        site = Path(secrets) / "hive-site.xml"
        assert driver.endswith("postgresql-42.7.8.jar") and site.stat().st_mode & 0o077 == 0
        assert "<name>javax.jdo.option.ConnectionPassword</name><value>s3&lt;cret</value>" in site.read_text()


def test_a_metastore_of_another_kind_is_refused():
    from clicklake.sql_server import metastore_conf

    with pytest.raises(ConfigError, match="jdbc:postgresql://host:port/db or thrift://host:port, not 'jdbc:mysql://db/hms'"):
        metastore_conf("jdbc:mysql://db/hms")
