"""Dagster definitions: a thin layer over the modules that do the work, one folder per domain."""
