"""Great Expectations suites as data: <layer>.<table>.yml, one per table, named like the table."""
