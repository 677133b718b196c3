# The two commands that matter: `make demo` and `make test`. Everything they need is installed
# into ignored folders of this checkout (.venv, .cache, .data) on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EMBEDDED := set -a && . infra/embedded.env && set +a
# uv's download and build cache in the checkout too, gone with it: in the shared one each fresh
# clone left another 2.2 GB (pyspark is an sdist, built again and kept per install) until a
# machine's disk filled. The venv's files are hard links into it, so it costs little more.
UV_CACHE_DIR ?= $(CURDIR)/.cache/uv
export UV_CACHE_DIR
# What setup leaves in the checkout: the uv cache 3.5 GB, Maven jars 1.4 GB, the venv 0.3 GB.
SETUP_NEEDS_GB := 6

.PHONY: setup demo test test-fast bench bench-full bench-growth bench-skew bench-parse sql sql-server s3-start s3-stop spark-cluster-start spark-cluster-stop spark-connect-start spark-connect-stop airflow screenshots clean distclean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml Makefile
	@command -v java >/dev/null || { echo "Java 17 is required (Spark runs on the JVM): install openjdk-17-jdk-headless" >&2; exit 1; }
	@command -v javac >/dev/null || { echo "A Java 17 JDK is required (javac builds the SQL server's read-only check): install openjdk-17-jdk-headless" >&2; exit 1; }
	@free_gb=$$(( $$(df -Pk . | awk 'NR==2 {print $$4}') / 1048576 )); [ $$free_gb -ge $(SETUP_NEEDS_GB) ] || { echo "Setup needs about $(SETUP_NEEDS_GB) GB free on this checkout's disk, and $$free_gb GB are: free some space (make distclean in old clones)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.8
	@# Compiled now, once: where PYTHONDONTWRITEBYTECODE is set, every process (each Airflow task,
	@# each Spark Python worker) would otherwise recompile Great Expectations, Airflow and pandas.
	$(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet -p $(BIN)/python --no-deps -e .
	@echo "Resolving Spark's Delta Lake and S3A jars from Maven Central into .cache/ivy (first time only) ..."
	$(BIN)/python -m clicklake.spark
	touch $(STAMP)

demo: setup
	$(BIN)/clicklake demo

test: setup
	$(BIN)/pytest

# Unit tests only: no S3 server, no Airflow run.
test-fast: setup
	$(BIN)/pytest -m "not e2e"

# The whole pipeline (`clicklake run` on a benchmark S3 server) for a generated day of ~2M raw
# records (bench) or ~10M (bench-full), against a DuckDB yardstick of its core work; prints a
# table per stage and a JSON line. A benchmark, not a test (VISITORS=... to resize).
bench: setup
	$(BIN)/python bench/pipeline_bench.py --visitors $(or $(VISITORS),90000)

bench-full: setup
	$(BIN)/python bench/pipeline_bench.py --visitors $(or $(VISITORS),450000)

# The same for ~1M, ~5M and ~10M records in one invocation, and how the cost grows (about an hour).
bench-growth: setup
	$(BIN)/python bench/pipeline_bench.py --visitors $(or $(VISITORS),45000 225000 450000)

# ~1M records with hot keys (a tenth of the visitors behind one NAT address, a scraper farm on one
# address sending a fifth of the log lines): the skew table shows whether any task held them.
bench-skew: setup
	$(BIN)/python bench/pipeline_bench.py --visitors $(or $(VISITORS),45000) --hot-keys

# Parsing + classification of 2,000,000 generated log lines, Spark against a DuckDB yardstick.
# A benchmark, not a test: it prints figures and a JSON line (LINES=..., FILES=... to resize).
bench-parse: setup
	$(BIN)/python bench/parse_bench.py --lines $(or $(LINES),2000000) --files $(or $(FILES),8)

# make sql Q="SELECT * FROM gold.daily_kpis"   (starts the embedded S3 server if needed)
sql: setup s3-start
	@$(EMBEDDED) && $(BIN)/clicklake sql "$(Q)"

# Spark's Thrift JDBC/ODBC server on jdbc:hive2://127.0.0.1:10000/default over the embedded lake
# (read-only; PORT=... to move it); Ctrl-C stops it.
sql-server: setup s3-start
	@$(EMBEDDED) && $(BIN)/clicklake serve-sql --port $(or $(PORT),10000)

s3-start: setup
	@$(EMBEDDED) && infra/s3-local start

s3-stop:
	@$(EMBEDDED) && infra/s3-local stop

# A Spark standalone master and two workers on 127.0.0.1 (infra/README.md, "Cluster mode"); then
#   CLICKLAKE_SPARK_MASTER=spark://127.0.0.1:7077 .venv/bin/clicklake run --date ...
spark-cluster-start: setup
	@infra/spark-cluster start

spark-cluster-stop:
	@infra/spark-cluster stop

# A Spark Connect server on sc://127.0.0.1:15002 over the embedded S3 server (infra/README.md,
# "Spark Connect"); then CLICKLAKE_SPARK_REMOTE=sc://127.0.0.1:15002 .venv/bin/clicklake run ...
spark-connect-start: setup s3-start
	@$(EMBEDDED) && infra/spark-connect start

spark-connect-stop:
	@infra/spark-connect stop

# Airflow UI on http://127.0.0.1:8080 with the DAG, its tasks attached to the Spark Connect server
# (no Spark driver to start per task); Ctrl-C stops every process it started.
airflow: setup s3-start spark-connect-start
	@$(EMBEDDED) && CLICKLAKE_SPARK_REMOTE=sc://127.0.0.1:15002 $(BIN)/python -m clicklake.airflow_local standalone

# The README's Airflow screenshots (docs/images/) from the real UI in a headless Chromium, and a
# 3-day backfill started from the UI (tasks on the Spark Connect server, as `make airflow` runs
# them), timed and checked against single runs of the same dates.
# Needs Debian's Chromium (apt-get install chromium; CHROMIUM=... for another one).
screenshots: setup s3-start spark-connect-start
	$(BIN)/uv pip install --quiet -p $(BIN)/python playwright==1.65.2
	@$(EMBEDDED) && CLICKLAKE_SPARK_REMOTE=sc://127.0.0.1:15002 $(BIN)/python infra/airflow-screenshots.py

clean:
	rm -rf .data/demo .pytest_cache spark-warehouse

# Also the embedded S3 data, Airflow metadata, venv and jar cache.
distclean: s3-stop spark-cluster-stop spark-connect-stop
	rm -rf .data .cache $(VENV)
