"""Reference data shipped with clicklake."""
