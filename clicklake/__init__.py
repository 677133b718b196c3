"""clicklake: a clickstream lakehouse (web server logs + page tags -> bronze/silver/gold Delta tables)."""

__version__ = "0.1.0"
