"""Table definitions: <layer>.<table>.json, one per table (the single source of column names, types and comments)."""
