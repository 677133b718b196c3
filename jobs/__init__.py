"""Spark jobs, one module per layer (bronze, silver, gold) plus the pure transforms they use."""
